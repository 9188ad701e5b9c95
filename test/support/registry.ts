// A real CNCF distribution registry (Debian's docker-registry) on 127.0.0.1, with throwaway
// storage and deletion enabled. Each test file starts its own on a free port, so files can run
// in parallel and never see each other's state.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
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
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const logFile = join(dir, 'registry.log');
  const configFile = join(dir, 'config.yml');
  const tls = options.tls
    ? `\n  tls:\n    certificate: ${options.tls.certificate}\n    key: ${options.tls.key}`
    : '';
  await writeFile(
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
  const launch = async () => {
    // The registry writes straight into the log file: a pipe through this process would stall
    // the registry (and every request to it) while a test blocks the event loop in spawnSync.
    const fd = openSync(logFile, 'a');
    try {
      child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    await waitForPort(port, child);
  };
  await launch();

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
      await launch();
    },
  };
}

/** Stop and delete the storage. */
export async function destroyRegistry(registry: TestRegistry): Promise<void> {
  await registry.stop();
  await rm(registry.dir, { recursive: true, force: true });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not listen on 127.0.0.1:${port} within 15 s`);
}
