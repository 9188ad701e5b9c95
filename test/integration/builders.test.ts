// The builders against the real engine (docker classic and BuildKit, buildah) and a real
// registry on loopback: images built FROM scratch + busybox and exported for arbor to publish.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerExport } from '../../src/execute/builders/docker.js';
import { localEngineSocket } from '../../src/execute/builders/engine-api.js';
import {
  BuildError,
  type Builder,
  type BuildRequest,
  createBuilder,
} from '../../src/execute/builders/index.js';
import { KnownLayers } from '../../src/execute/known-layers.js';
import { DOCKER, docker, loadParentlessImages, requireEngine } from '../support/engine.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';

let registry: TestRegistry;
let workDir: string;
let contextDir: string;
const run = randomBytes(4).toString('hex');

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  workDir = await mkdtemp(join(tmpdir(), 'arbor-builders-'));
  contextDir = join(workDir, 'context');
  execFileSync('mkdir', ['-p', contextDir]);
  await copyFile('/bin/busybox', join(contextDir, 'busybox'));
  await writeFile(join(contextDir, 'run-id'), run);
});

afterAll(async () => {
  if (registry) await destroyRegistry(registry);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

// The run id first: the classic builder's layer cache matches identical steps across test files,
// and another file removing its (identical) images in the middle of this build breaks it.
const BASE = `FROM scratch
COPY run-id /etc/arbor-test-run
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG GREETING
ENV GREETING=$GREETING
RUN echo "$GREETING" > /greeting
`;

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function waitForLog(file: string, pattern: RegExp, settled?: () => boolean): Promise<void> {
  // Bounded by the test timeout: the build prints the step long before it could end. A build that
  // ended first (it failed before the step) is reported with its log instead of a timeout.
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (pattern.test(text)) return;
    if (settled?.())
      throw new Error(`the build ended before ${pattern} appeared in its log:\n${text.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes whose command line holds `pattern` (a RUN step's process, seen from the host). */
function processesWith(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', pattern], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Polls until `done()` holds, at most 30 s (a liveness bound, not a speed assertion). */
async function eventually(done: () => boolean): Promise<boolean> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (done()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return done();
}

function request(
  over: Partial<BuildRequest> & Pick<BuildRequest, 'image' | 'tags' | 'logFile'>,
): BuildRequest {
  return {
    contextDir: null,
    dockerfile: 'FROM scratch\n',
    buildArgs: {},
    labels: {},
    network: 'none',
    platforms: [],
    ...over,
  };
}

describe.each([
  { mode: 'classic', buildkit: false },
  { mode: 'buildkit', buildkit: true },
])('docker builder ($mode)', ({ mode, buildkit }) => {
  let builder: Builder;
  const repo = () => `${registry.host}/arbor-it-${run}/${mode}`;
  const created: string[] = [];
  const log = (name: string) => join(workDir, 'logs', mode, `${name}.log`);

  beforeAll(() => {
    builder = createBuilder({ name: 'docker', buildkit, network: 'none' }, { dockerBinary: DOCKER });
  });

  afterAll(async () => {
    await builder.remove?.(created);
  });

  it('builds from scratch + busybox with labels and build args, then a child FROM the parent’s local tag', async () => {
    const baseTags = [`${repo()}-base:fp-1`, `${repo()}-base:2025.1`];
    created.push(...baseTags);
    const base = await builder.build(
      request({
        image: 'base',
        contextDir,
        dockerfile: BASE,
        tags: baseTags,
        buildArgs: { GREETING: `hello-${mode}` },
        labels: { 'org.arbor.fingerprint': 'sha256:feed', 'org.opencontainers.image.version': '2025.1' },
        logFile: log('base'),
      }),
    );
    const inspected = JSON.parse(docker(['inspect', baseTags[1]!]))[0] as {
      Id: string;
      Config: { Labels: Record<string, string>; Env: string[] };
    };
    expect(base.imageId).toBe(inspected.Id);
    expect(inspected.Config.Labels).toMatchObject({
      'org.arbor.fingerprint': 'sha256:feed',
      'org.opencontainers.image.version': '2025.1',
    });
    expect(inspected.Config.Env).toContain(`GREETING=hello-${mode}`);
    expect(await readFile(log('base'), 'utf8')).toMatch(/\$ \/usr\/bin\/docker build|\$ \S*docker build/);

    const childTag = `${repo()}-child:fp-2`;
    created.push(childTag);
    const child = await builder.build(
      request({
        image: 'child',
        dockerfile: `FROM ${baseTags[0]}\nRUN echo child-of-base > /child\n`,
        tags: [childTag],
        logFile: log('child'),
      }),
    );
    expect(child.imageId).not.toBe(base.imageId);
    const out = await builder.runCommand(childTag, 'cat /child /greeting; ls /sys/class/net', {
      logFile: log('child-run'),
    });
    // The fingerprint command sees the parent's files and no network but loopback.
    expect(out.split('\n')).toEqual(['child-of-base', `hello-${mode}`, 'lo']);
  });

  it('exports an image whose layers repeat (docker save writes the second as a link to the first)', async () => {
    const tag = `${repo()}-twice:fp-2`;
    await builder.build(
      request({
        image: 'twice',
        contextDir,
        // At the root: a layer that also holds /etc carries that directory's time, which differs
        // between steps a second apart (CI, Node 24: three different layers on a slow machine).
        dockerfile: `FROM scratch\nCOPY run-id /run-id\nCOPY run-id /run-id\nCOPY run-id /run-id\n`,
        tags: [tag],
        logFile: log('twice'),
      }),
    );
    const [image] = await builder.export(tag, {
      logFile: log('export'),
      workDir: await mkdtemp(join(workDir, 'export-')),
    });
    const diffIds = image!.layers.map((l) => l.diffId);
    const inspected = JSON.parse(docker(['image', 'inspect', tag]))[0] as { RootFS: { Layers: string[] } };
    expect(diffIds).toEqual(inspected.RootFS.Layers);
    // The same file copied again over itself: the layers are the same tar.
    expect(new Set(diffIds).size).toBeLessThan(diffIds.length);
    for (const layer of image!.layers) expect(sha256(await readFile(layer.file!))).toBe(layer.diffId);
  });

  it('exports the built image: the config as the engine holds it, every layer as its tar', async () => {
    const ref = `${repo()}-base:2025.1`;
    const exportDir = await mkdtemp(join(workDir, 'export-'));
    const [image] = await builder.export(ref, { logFile: log('export'), workDir: exportDir });
    const inspected = JSON.parse(docker(['image', 'inspect', ref]))[0] as {
      Id: string;
      RootFS: { Layers: string[] };
    };
    expect(sha256(image!.config)).toBe(inspected.Id);
    // COPY run-id, COPY busybox, RUN --install, RUN echo: four layers, each hashing to its diffID.
    expect(image!.layers.map((l) => l.diffId)).toEqual(inspected.RootFS.Layers);
    for (const layer of image!.layers) expect(sha256(await readFile(layer.file!))).toBe(layer.diffId);
    // Layers the caller already has (by size) are only hashed, not written again.
    const known = new Map<number, Set<string>>();
    for (const l of image!.layers) known.set(l.size, new Set([...(known.get(l.size) ?? []), l.diffId]));
    const again = await builder.export(ref, {
      logFile: log('export'),
      workDir: await mkdtemp(join(workDir, 'export-')),
      known,
    });
    expect(again[0]!.layers.map((l) => [l.diffId, l.file])).toEqual(
      image!.layers.map((l) => [l.diffId, undefined]),
    );
  });

  it('exports through the Engine API what `docker save` gives (the local engine, no docker process)', async () => {
    const ref = `${repo()}-base:2025.1`;
    const socket = localEngineSocket({});
    expect(socket).toBe('/var/run/docker.sock');
    const [viaApi] = await dockerExport(
      DOCKER,
      ref,
      {
        logFile: log('export-api'),
        workDir: await mkdtemp(join(workDir, 'export-')),
      },
      socket,
    );
    const [viaCli] = await dockerExport(DOCKER, ref, {
      logFile: log('export-cli'),
      workDir: await mkdtemp(join(workDir, 'export-')),
    });
    expect(viaApi!.config.equals(viaCli!.config)).toBe(true);
    expect(viaApi!.layers.map((l) => [l.diffId, l.size])).toEqual(
      viaCli!.layers.map((l) => [l.diffId, l.size]),
    );
    for (const layer of viaApi!.layers) expect(sha256(await readFile(layer.file!))).toBe(layer.diffId);
    expect(await readFile(log('export-api'), 'utf8')).toContain('Engine API');
    // Compressed while streaming (apply's way): the same blobs as compressing the tars afterwards.
    const into = await mkdtemp(join(workDir, 'gz-'));
    const [compressed] = await dockerExport(
      DOCKER,
      ref,
      { logFile: log('export-api'), workDir: await mkdtemp(join(workDir, 'export-')), compressInto: into },
      socket,
    );
    for (const [i, layer] of compressed!.layers.entries()) {
      expect(layer.file).toBeUndefined();
      expect(layer.diffId).toBe(viaCli!.layers[i]!.diffId);
      const gz = await readFile(layer.compressed!.file);
      expect(sha256(gz)).toBe(layer.compressed!.digest);
      expect(sha256(gunzipSync(gz))).toBe(layer.diffId);
      const again = await new KnownLayers(into).compress(layer.diffId, viaCli!.layers[i]!.file!, layer.size);
      expect(again.descriptor.digest).toBe(layer.compressed!.digest);
    }

    // An image the engine does not have: its own message, located in the log.
    const missing = await dockerExport(
      DOCKER,
      `${repo()}-absent:nope`,
      {
        logFile: log('export-api-missing'),
        workDir: await mkdtemp(join(workDir, 'export-')),
      },
      socket,
    ).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BuildError);
    expect((missing as BuildError).message).toMatch(
      /the engine did not save the image: .*(No such image|not found|reference does not exist).*\(HTTP 404\)/i,
    );
  });

  it('fails a broken RUN with a BuildError carrying the exit code and the log tail', async () => {
    const tag = `${repo()}-broken:fp-3`;
    created.push(tag);
    const error = await builder
      .build(
        request({
          image: 'broken',
          contextDir,
          dockerfile: `${BASE}RUN echo about-to-fail-marker && exit 7\n`,
          tags: [tag],
          buildArgs: { GREETING: 'x' },
          logFile: log('broken'),
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    const b = error as BuildError;
    expect(b.step).toBe('build');
    expect(b.exitCode).not.toBe(0);
    expect(b.exitCode).not.toBeNull();
    expect(b.aborted).toBe(false);
    expect(b.logTail.length).toBeGreaterThan(0);
    expect(b.logTail.length).toBeLessThanOrEqual(20);
    expect(b.logTail.join('\n')).toMatch(/about-to-fail-marker/);
    expect(b.message).toMatch(/^error: image broken: docker build exited with code \d+ \(log: /);
  });

  it('terminates a running build on abort', async () => {
    const controller = new AbortController();
    const tag = `${repo()}-slow:fp-4`;
    const marker = `arbor-abort-${run}-${mode}`;
    // busybox sh execs the last command, so the running process is just `sleep N`: N identifies it.
    const sleeper = `sleep ${3000 + Math.floor(Math.random() * 6000)}`;
    const building = builder
      .build(
        request({
          image: 'slow',
          contextDir,
          dockerfile: `${BASE}RUN echo ${marker} && ${sleeper}\n`,
          tags: [tag],
          buildArgs: { GREETING: 'x' },
          logFile: log('slow'),
          signal: controller.signal,
        }),
      )
      .catch((e: unknown) => e);
    let ended = false;
    void building.then(() => {
      ended = true;
    });
    await waitForLog(log('slow'), new RegExp(`^${marker}|#\\d+ [\\d.]+ ${marker}`, 'm'), () => ended);
    expect(await eventually(() => processesWith(sleeper).length > 0)).toBe(true);
    controller.abort();
    const error = (await building) as BuildError;
    expect(error).toBeInstanceOf(BuildError);
    expect(error.aborted).toBe(true);
    // The daemon cancels the build with the client: the RUN step's process goes, no image appears.
    expect(await eventually(() => processesWith(sleeper).length === 0)).toBe(true);
    expect(() => docker(['image', 'inspect', tag])).toThrow();
  });
});

// Images come and go on a shared engine (other jobs, other test files, a prune). The classic
// builder's cache lookup reads every candidate image it listed a moment before, and one removed in
// between fails the build with `unable to find image "sha256:…"`: arbor builds again. With 400
// parentless images on the engine (a busy host: the lookup takes a while), two loops import and
// remove more of them — the very candidates of a step after `FROM scratch` — while builds run,
// until one build needed another attempt (most do here).
describe('docker builder (classic) beside image removals', () => {
  const builder = createBuilder(
    { name: 'docker', buildkit: false, network: 'none' },
    { dockerBinary: DOCKER },
  );
  const tags: string[] = [];
  let crowd: string[] = [];

  beforeAll(async () => {
    crowd = await loadParentlessImages(`arbor-it-crowd-${run}`, 400);
  });

  afterAll(async () => {
    await builder.remove?.([...tags, ...crowd]);
  });

  it("builds again when the engine's cache lookup meets an image removed meanwhile", async () => {
    const running = join(workDir, 'churn-running');
    await writeFile(running, '');
    const churn = (n: number) =>
      spawn(
        'bash',
        [
          '-c',
          `i=0; while [ -e "$1" ]; do i=$((i+1)); t="arbor-it-churn-${run}:${n}-$i";
           printf '%s' "$i" > "$2"; tar -C "$(dirname "$2")" -c "$(basename "$2")" | "$3" import - "$t" >/dev/null 2>&1;
           "$3" rmi "$t" >/dev/null 2>&1; done`,
          'churn',
          running,
          join(workDir, `churn-${n}`),
          DOCKER,
        ],
        { stdio: 'ignore' },
      );
    const churners = [churn(1), churn(2)];
    const exited = churners.map((c) => new Promise((resolve) => c.on('exit', resolve)));
    // The removals end once a build met one (a prune or another job's cleanup ends too): the
    // attempts after it must then succeed. Continuous removals on 2 cores can outlast any number.
    const stopChurn = () => rm(running, { force: true });
    let retried = 0;
    try {
      for (let n = 0; n < 60 && retried === 0; n++) {
        const tag = `${registry.host}/arbor-it-${run}/classic-race:${n}`;
        tags.push(tag);
        const watch = setInterval(() => {
          readFile(log(`race-${n}`), 'utf8').then(
            (text) => (text.includes('building again') ? stopChurn() : undefined),
            () => undefined,
          );
        }, 25);
        const built = await builder
          .build(
            request({
              image: `race-${n}`,
              contextDir,
              // A step no other build has: its cache lookup lists every parentless image.
              dockerfile: `FROM scratch\nCOPY run-id /etc/arbor-race-${n}\n`,
              tags: [tag],
              logFile: log(`race-${n}`),
            }),
          )
          .finally(() => clearInterval(watch));
        expect(built.imageId).toBe(docker(['image', 'inspect', '--format', '{{.Id}}', tag]).trim());
        const text = await readFile(log(`race-${n}`), 'utf8');
        if (/layer-cache lookup met an image removed meanwhile; building again/.test(text)) {
          expect(text).toMatch(/^unable to find image "sha256:[0-9a-f]{64}"$/m);
          retried++;
        }
      }
    } finally {
      await stopChurn();
      await Promise.all(exited);
    }
    expect(retried).toBe(1);
  }, 300_000);

  function log(name: string): string {
    return join(workDir, 'logs', 'classic-race', `${name}.log`);
  }
});

describe('buildah builder', () => {
  const builder = createBuilder({ name: 'buildah', buildkit: false, network: 'none' });
  const ref = () => `${registry.host}/arbor-it-${run}/buildah-base:2025.1`;

  afterAll(async () => {
    await builder.remove?.([ref()]);
  });

  it('builds, runs a command in the image, and exports it as an OCI layout with uncompressed layers', async () => {
    const log = join(workDir, 'logs', 'buildah.log');
    const result = await builder.build(
      request({
        image: 'base',
        contextDir,
        dockerfile: BASE,
        tags: [ref()],
        buildArgs: { GREETING: 'hello-buildah' },
        labels: { 'org.arbor.fingerprint': 'sha256:beef' },
        logFile: log,
      }),
    );
    expect(result.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await builder.runCommand(ref(), 'cat /greeting', { logFile: log })).toBe('hello-buildah');

    const [image] = await builder.export(ref(), {
      logFile: log,
      workDir: await mkdtemp(join(workDir, 'export-')),
    });
    expect(`sha256:${result.imageId.replace(/^sha256:/, '')}`).toBe(sha256(image!.config));
    const config = JSON.parse(image!.config.toString('utf8')) as {
      config: { Labels: Record<string, string> };
      rootfs: { diff_ids: string[] };
    };
    expect(config.config.Labels['org.arbor.fingerprint']).toBe('sha256:beef');
    expect(image!.layers.map((l) => l.diffId)).toEqual(config.rootfs.diff_ids);
    for (const layer of image!.layers) expect(sha256(await readFile(layer.file!))).toBe(layer.diffId);
  });
});
