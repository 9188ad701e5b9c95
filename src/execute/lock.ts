// One apply at a time per checkout: `.arbor/apply.lock` holds the pid, host and start time of the
// apply that runs. A second apply waits for it (`--lock-timeout`) or stops with a message naming
// it; a lock whose process is gone (same host, pid not alive) is taken over. Across machines
// there is no shared lock: there the registry-side rules hold (see the README, "Concurrent applies").
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { ArborError } from '../errors.js';
import { processAlive } from '../process-alive.js';

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  command: string;
}

export interface HeldLock {
  release(): Promise<void>;
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/** Takes the lock, waiting up to `timeoutMs` for another holder to finish. */
export async function acquireLock(
  file: string,
  options: { timeoutMs: number; command: string; pollMs?: number },
): Promise<HeldLock> {
  await mkdir(dirname(file), { recursive: true });
  const deadline = Date.now() + options.timeoutMs;
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: options.command,
  };
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(JSON.stringify(me));
      await handle.close();
      let released = false;
      const releaseSync = () => {
        // On exit nothing async runs: remove it synchronously, only if it is still ours.
        if (released) return;
        released = true;
        try {
          const holder = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
          if (holder.pid === me.pid && holder.started === me.started) rmSync(file, { force: true });
        } catch {
          // Already gone.
        }
      };
      process.once('exit', releaseSync);
      return {
        async release() {
          process.off('exit', releaseSync);
          if (released) return;
          released = true;
          const holder = await readHolder(file);
          if (holder?.pid === me.pid && holder.started === me.started) await rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readHolder(file);
    if (holder && holder.host === me.host && !processAlive(holder.pid)) {
      // Left by an apply that died (kill -9, a crash): nobody holds it.
      await rm(file, { force: true });
      continue;
    }
    if (!holder) {
      // Written this very moment by another apply: look again shortly.
      await new Promise((r) => setTimeout(r, 50));
      if (Date.now() < deadline + 1000) continue;
    }
    if (Date.now() >= deadline) {
      const who = holder
        ? `since ${holder.started}, pid ${holder.pid}${holder.host !== me.host ? ` on ${holder.host}` : ''} (${holder.command})`
        : '(lock file unreadable)';
      throw new ArborError(
        `another apply is running in this checkout ${who}; wait for it, or pass --lock-timeout to wait (lock: ${file})`,
      );
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
  }
}
