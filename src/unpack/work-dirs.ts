// Work directories under OUT/.tmp and OUT/.store/.tmp are named `<pid>-…`: a run removes those
// of processes that are gone (killed, crashed), and its own when it is interrupted.
import { readdirSync, rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from '../process-alive.js';

/** Work of runs that are gone: their process no longer exists. */
export async function sweepStaleWork(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    await rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** This process's work, synchronously: called from a signal handler just before the process ends. */
export function removeOwnWork(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${process.pid}-`)) continue;
    try {
      rmSync(path.join(dir, name), { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // What an operation still in flight recreates is swept by the next run (its pid is gone).
    }
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Runs `cleanup` on SIGINT or SIGTERM, then lets the signal end the process as it would have
 * (exit status 130 / 143), unless someone else listens and decides. Returns the unsubscribe.
 */
export function onInterrupt(cleanup: () => void): () => void {
  const stop = () => {
    for (const signal of SIGNALS) process.off(signal, handler);
  };
  const handler = (signal: NodeJS.Signals) => {
    stop();
    cleanup();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  for (const signal of SIGNALS) process.on(signal, handler);
  return stop;
}
