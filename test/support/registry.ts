// A real CNCF distribution registry (Debian's docker-registry) on 127.0.0.1, with throwaway
// storage and deletion enabled. Each test file starts its own on a free port, so files can run
// in parallel and never see each other's state.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RegistryOptions {
  /** Extra YAML appended under the top level (e.g. an `auth:` section). Indented as top level. */
  extraConfig?: string;
  /** `http.tls` certificate and key files. */
  tls?: { certificate: string; key: string };
  /** false sets storage.delete.enabled=false. */
  deleteEnabled?: boolean;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  dir: string;
  storageDir: string;
  logFile: string;
  configFile: string;
  /** The registry's log so far (request lines, upload events). */
  log(): Promise<string>;
  stop(): Promise<void>;
  /** Start again on the same port and storage (after stop()). */
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-registry-'));
  const storageDir = join(dir, 'storage');
  await mkdir(storageDir);
  const logFile = join(dir, 'registry.log');
  const configFile = join(dir, 'config.yml');
  const tls = options.tls
    ? `\n  tls:\n    certificate: ${options.tls.certificate}\n    key: ${options.tls.key}`
    : '';
  const writeConfig = (host: string) =>
    writeFile(
      configFile,
      `version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${storageDir}
  delete:
    enabled: ${options.deleteEnabled === false ? 'false' : 'true'}
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${host}${tls}
${options.extraConfig ?? ''}
`,
    );

  let child: ChildProcess | undefined;
  const launch = async (port: number) => {
    // The registry writes straight into the log file: a pipe through this process would stall
    // the registry (and every request to it) while a test blocks the event loop in spawnSync.
    const from = existsSync(logFile) ? statSync(logFile).size : 0;
    const fd = openSync(logFile, 'a');
    try {
      child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    await waitForListening(port, child, logFile, from);
  };

  const port = await onFreePort(async (candidate) => {
    await writeConfig(`127.0.0.1:${candidate}`);
    await launch(candidate);
    return candidate;
  });
  const host = `127.0.0.1:${port}`;

  return {
    host,
    port,
    dir,
    storageDir,
    logFile,
    configFile,
    log: () => readFile(logFile, 'utf8'),
    async stop() {
      // A process killed by a signal keeps exitCode null: check signalCode too.
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
    async restart() {
      await launch(port);
    },
  };
}

/** Stop and delete the storage. */
export async function destroyRegistry(registry: TestRegistry): Promise<void> {
  await registry.stop();
  await rm(registry.dir, { recursive: true, force: true });
}

/** A server exited because another process holds its port. */
export class PortTakenError extends Error {}

/**
 * `start` on a free port, again on another one when it throws PortTakenError. freePort's port is
 * free when it answers, not when the server binds it: a test file running alongside may take it
 * in between (an outgoing connection's ephemeral port, another server).
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 5) throw error;
    }
  }
}

/**
 * Wait for the registry's own "listening on" line in the log written since `from`: a connect
 * test could succeed against whichever process took the port, while the registry is failing.
 */
async function waitForListening(
  port: number,
  child: ChildProcess,
  logFile: string,
  from: number,
): Promise<void> {
  const listening = `listening on 127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const written = (await readFile(logFile)).subarray(from).toString('utf8');
    if (written.includes(listening)) return;
    if (child.exitCode !== null) {
      // Say why: the registry's last lines (a bind error, a bad config line).
      const tail = written.trim().split('\n').slice(-3).join('\n');
      const message = `docker-registry exited with ${child.exitCode} on 127.0.0.1:${port}: ${tail}`;
      throw /address already in use/i.test(tail) ? new PortTakenError(message) : new Error(message);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not listen on 127.0.0.1:${port} within 15 s`);
}
