// A real CNCF distribution registry (Debian's docker-registry) on a free loopback port, with
// throwaway storage and its access log in a file, for the benchmarks that must count what a
// command asked the registry (requests, blob uploads, bytes). test/support/registry.ts is the
// same for tests; benchmarks run as plain Node on compiled code, so they cannot import it.
//
//   const registry = await startRegistry();
//   const mark = await registry.logMark();
//   … run something against registry.host …
//   const requests = await registry.requestsSince(mark);   // [{ method, path, status }]
//   const bytes = await registry.uploadedBytes(requests);    // blob bytes those requests stored
//   await registry.stop();                                   // also deletes the storage
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

async function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// One access-log line (combined format): `127.0.0.1 - - [date] "HEAD /v2/a/manifests/t HTTP/1.1" 200 …`.
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /;

/**
 * `accessLog: false` for benchmarks that time the registry itself: writing a line per request
 * costs it throughput (they then cannot count requests from the log).
 */
export async function startRegistry({ accessLog = true } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-bench-registry-'));
  const storageDir = join(dir, 'storage');
  await mkdir(storageDir);
  const port = await freePort();
  const logFile = join(dir, 'registry.log');
  const configFile = join(dir, 'config.yml');
  // Level warn keeps the application's per-request lines out; the access log still has one line
  // per request. Upload purging off: it would delete nothing here, but it walks the storage.
  await writeFile(
    configFile,
    `version: 0.1
log:
  level: warn
  accesslog:
    disabled: ${!accessLog}
storage:
  filesystem:
    rootdirectory: ${storageDir}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
`,
  );
  // Straight into the file: a pipe through this process would stall the registry whenever the
  // benchmark blocks its event loop (spawnSync of the CLI).
  const fd = openSync(logFile, 'a');
  let child;
  try {
    child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + 15_000;
  while (!(await listening(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 50));
  }

  const logSize = async () => (await stat(logFile)).size;
  return {
    host: `127.0.0.1:${port}`,
    /** CPU time (user + system) the registry process has used so far, in ms. */
    cpuMs: () => processCpuMs(`/proc/${child.pid}/stat`, 13),
    storageDir,
    logFile,
    /** A position in the log; requestsSince(mark) reads what was logged after it. */
    logMark: logSize,
    async requestsSince(mark) {
      // The registry writes a line when it has answered; let the last lines land.
      await new Promise((r) => setTimeout(r, 100));
      const end = await logSize();
      const handle = await open(logFile, 'r');
      try {
        const buffer = Buffer.alloc(end - mark);
        await handle.read(buffer, 0, buffer.length, mark);
        return buffer
          .toString('utf8')
          .split('\n')
          .map((line) => ACCESS_LINE.exec(line))
          .filter(Boolean)
          .map(([, method, path, status]) => ({ method, path, status: Number(status) }));
      } finally {
        await handle.close();
      }
    },
    /**
     * Blob bytes stored by these requests: each upload session ends with a PUT carrying
     * `digest=…`; the blob's size is read from the storage (the access log has no request sizes).
     */
    async uploadedBytes(requests) {
      let bytes = 0;
      for (const r of requests) {
        if (r.method !== 'PUT' || !r.path.includes('/blobs/uploads/')) continue;
        const digest = new URL(r.path, 'http://x').searchParams.get('digest');
        if (!digest || r.status !== 201) continue;
        const hex = digest.slice('sha256:'.length);
        const data = join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
        bytes += (await stat(data)).size;
      }
      return bytes;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * CPU ms from a /proc stat file: the two clock-tick fields from `field` (0-based, after the
 * command name's parentheses): utime/stime at 13, the waited-for children's cutime/cstime at 15.
 */
export function processCpuMs(file, field) {
  const text = readFileSync(file, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields after the name start at the state (index 2 of the whole line).
  const at = field - 2;
  return (Number(fields[at]) + Number(fields[at + 1])) * 10; // 100 clock ticks per second on Linux
}

/** CPU ms of this process's children that have exited and been waited for (spawnSync's). */
export const childrenCpuMs = () => processCpuMs('/proc/self/stat', 15);

/**
 * Blob upload traffic in these requests: `uploads` are the requests of upload sessions that carry
 * or announce data (POST start, PATCH chunk, PUT close); `mounts` are cross-repository mounts the
 * registry satisfied without data (POST …?mount= answered 201).
 */
export function blobUploadTraffic(requests) {
  let uploads = 0;
  let mounts = 0;
  for (const r of requests) {
    if (!r.path.includes('/blobs/uploads/')) continue;
    if (r.method === 'POST' && r.path.includes('mount=') && r.status === 201) mounts++;
    else uploads++;
  }
  return { uploads, mounts };
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Every image of a plan (`arbor plan --format json`) put in the registry without building it: a
 * tiny image carrying the fingerprint label, under every tag the plan wants and the fingerprint
 * tag last (as apply does), 8 at a time. `layer`: the same layer bytes for every image.
 */
export async function publishPlanned(client, host, plan, { layer } = {}) {
  const limit = pLimit(8);
  await Promise.all(
    plan.images.map((image) =>
      limit(() =>
        pushTinyImage(client, image.repository.slice(host.length + 1), {
          tags: [...image.tags, image.fingerprintTag],
          labels: { 'org.arbor.fingerprint': image.fingerprint },
          ...(layer ? { layer } : {}),
        }),
      ),
    ),
  );
}

/**
 * A tiny single-layer image uploaded with arbor's registry client (no engine needed), put under
 * `tags` in order (so a fingerprint tag given last lands last, as apply does). Returns its digest.
 */
export async function pushTinyImage(
  client,
  repository,
  { tags, labels = {}, layerSize = 256, layer: given, created = new Date().toISOString() },
) {
  // `layer`: the layer's bytes (a real tar, for benchmarks that read layers); random bytes otherwise.
  const layer = given ?? randomBytes(layerSize);
  const config = Buffer.from(
    JSON.stringify({
      created,
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: labels },
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  await client.uploadBlob(repository, sha256(layer), layer, layer.length);
  return pushManifest(client, repository, tags, config, [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
  ]);
}

/**
 * Uploads an image config (bytes) and puts the OCI manifest over it and `layers` (descriptors of
 * blobs already uploaded) under `tags` in order. Returns the manifest's digest.
 */
export async function pushManifest(client, repository, tags, config, layers) {
  await client.uploadBlob(repository, sha256(config), config, config.length);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers,
    }),
  );
  let digest;
  for (const tag of tags) digest = await client.putManifest(repository, tag, manifest, OCI_MANIFEST);
  return digest;
}
