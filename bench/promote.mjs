// Promotion of the 187-image tree from registry A (CI) to a target B (issue 12, "Benchmarks").
// The tree's images are small real images uploaded by arbor's client under every tag (three tag
// templates: the release line, the round, `latest`), with release records written by arbor's own
// module. Release 1 is at B; release 2 changed 10 leaf images and adds a round tag everywhere.
//   promote:  `arbor promote apply --release r2` into a B holding release 1, against
//             `skopeo sync` (one process, a YAML list of every image and tag) and a `skopeo copy`
//             loop over the same images and tags, each into its own B prepared the same way (untimed);
//             wall, requests at A and B (access logs), bytes stored at B. Beside them the
//             registry's floor for the same promotion (bench/lib/bare-promote.mjs: a fresh `node`
//             process sending only the requests the API requires), into a B of its own.
//   no-op:    the same promotion again: HEADs only; wall against the registry's bare-HEAD floor
//             (the same HEADs on a bare undici Pool: 8 connections, pipelined), in this warm process
//             (one round right after each no-op: `pairedRatios`) and as a fresh `node` process
//             (bench/lib/bare-heads.mjs).
//   flip:     the window of the final tag burst (first to last tag PUT) of the promotion and of a
//             tag-only `arbor apply` moving 187 × 2 tags.
//
//   npm run build && node bench/promote.mjs [--images 187] [--changed 10] [--runs 3] [--keep]
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { Pool } from 'undici';
import { createRegistryClient } from '../dist/registry/client.js';
import { releasesRepository, writeRecord } from '../dist/release/store.js';
import { nodeStartUpMs, withoutStartUpTaxes } from './lib/command-env.mjs';
import { generateTree } from './lib/generate-tree.mjs';
import { startLinkProcess } from './lib/link-process.mjs';
import { childrenCpuMs, startRegistry } from './lib/registry.mjs';
import { median, round } from './lib/util.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'arbor.js');
const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '187' },
    changed: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    // One more arbor promotion of r2 (into its own B), under `node --cpu-prof`, into this directory.
    profile: { type: 'string' },
    // Only arbor's runs (no skopeo): for profiling and quick checks; the ratios are then absent.
    'no-skopeo': { type: 'boolean', default: false },
    // Another checkout (built) whose CLI is timed in the same run: its r2 promotion into a B of its
    // own after arbor's in each round, its no-op promotions alternated with arbor's.
    before: { type: 'string' },
    'noop-runs': { type: 'string', default: '5' },
    // A round trip in ms between the commands and both registries (a delaying TCP proxy in front
    // of A and of every B): a promotion across a WAN, where a request costs a wait, not CPU.
    rtt: { type: 'string', default: '0' },
    // Every command in the environment this process was given, start-up taxes included
    // (bench/lib/command-env.mjs); by default they run without them, and arbor is timed both ways.
    'inherit-env': { type: 'boolean', default: false },
  },
});
const IMAGES = Number(values.images);
const CHANGED = Number(values.changed);
const RUNS = Number(values.runs);
const RTT = Number(values.rtt);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// The timed commands' environment: this one without the variables that make a Node process pay at
// start-up for nothing a loopback benchmark uses (bench/lib/command-env.mjs), unless --inherit-env.
const INHERITED_ENV = { ...process.env, CI: '1' };
const clean = withoutStartUpTaxes(INHERITED_ENV);
const COMMAND_ENV = values['inherit-env'] ? INHERITED_ENV : clean.env;
/** Variables the commands run without; when some, each round also times arbor with them. */
const REMOVED = values['inherit-env'] ? [] : clean.removed;

function run(command, args, options = {}) {
  const started = performance.now();
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: COMMAND_ENV,
    ...options,
  });
  const ms = performance.now() - started;
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, ms };
}
const BEFORE_BIN = values.before ? path.join(path.resolve(values.before), 'bin', 'arbor.js') : undefined;
const NOOP_RUNS = Number(values['noop-runs']);
const cli =
  (bin, env = COMMAND_ENV) =>
  (args, cwd) =>
    run(process.execPath, [bin, ...args], { cwd, env });
const arbor = cli(BIN);
const arborInherited = cli(BIN, INHERITED_ENV);
const before = BEFORE_BIN ? cli(BEFORE_BIN) : undefined;

/** One image: a layer shared by every image (a base), one of its own, a config naming both. */
async function pushImage(client, repository, base, tags, salt) {
  const own = randomBytes(48 * 1024);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { salt } },
      rootfs: { type: 'layers', diff_ids: [sha256(base), sha256(own)] },
    }),
  );
  for (const blob of [base, own, config])
    if (!(await client.headBlob(repository, sha256(blob))))
      await client.uploadBlob(repository, sha256(blob), blob, blob.length);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [base, own].map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(l),
        size: l.length,
      })),
    }),
  );
  for (const tag of tags) await client.putManifest(repository, tag, manifest, OCI_MANIFEST);
  // The blobs only this image has (a target holding the base needs these).
  const ownBytes = own.length + config.length;
  return { digest: sha256(manifest), size: manifest.length, mediaType: OCI_MANIFEST, ownBytes };
}

async function registryBytes(registry) {
  const out = run('du', ['-sb', path.join(registry.storageDir, 'docker/registry/v2/blobs')]).stdout;
  return Number(out.split('\t')[0]);
}

const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-promote-'));
const a = await startRegistry();
const targets = [];
const links = [];
/** Where the commands reach a registry: itself, or through a link with the --rtt round trip. */
async function reach(registry) {
  if (RTT <= 0) return registry.host;
  const link = await startLinkProcess(Number(registry.host.split(':')[1]), RTT / 2);
  links.push(link);
  return link.host;
}
const loadStart = loadavg()[0];
try {
  const tree = await generateTree(root, { images: IMAGES, filesPerImage: 4, bigFileEvery: 1_000_000 });
  const names = (await readFile(tree.file, 'utf8'))
    .match(/^ {2}([a-z0-9-]+):$/gm)
    .map((l) => l.trim().slice(0, -1));
  const leaves = names.slice(-CHANGED);
  const clientA = createRegistryClient({ registry: a.host, insecure: true });
  const base = randomBytes(512 * 1024);
  const limit = pLimit(8);
  const digests = new Map();
  let missingAtTarget = 0;
  const release = async (roundNo, changed) => {
    const images = await Promise.all(
      names.map((name) =>
        limit(async () => {
          const repository = `bench/${name}`;
          const tags = ['2025.1', `2025.1-r${roundNo}`, 'latest'];
          const fresh = roundNo === 1 || changed.includes(name);
          const pushed = fresh
            ? await pushImage(clientA, repository, base, tags, `${name}-${roundNo}`)
            : await (async () => {
                const m = await clientA.getManifest(repository, digests.get(name).digest);
                for (const tag of tags) await clientA.putManifest(repository, tag, m.bytes, m.mediaType);
                return digests.get(name);
              })();
          digests.set(name, pushed);
          if (roundNo > 1 && fresh) missingAtTarget += pushed.ownBytes;
          const { ownBytes: _own, ...described } = pushed;
          return {
            name,
            repository,
            ...described,
            fingerprint: `sha256:${'0'.repeat(64)}`,
            fingerprintTag: 'fp-bench',
            tags,
          };
        }),
      ),
    );
    await writeRecord(clientA, releasesRepository('bench', 'arbor-releases'), {
      formatVersion: 1,
      release: `r${roundNo}`,
      created: new Date().toISOString(),
      registry: a.host,
      namespace: 'bench',
      configDigest: 'sha256:bench',
      images,
    });
  };
  await release(1, []);

  const yaml = await readFile(tree.file, 'utf8');
  const aHost = await reach(a);
  const withTarget = (host) =>
    `${yaml.replace('url: 127.0.0.1:5000', `url: "${aHost}"`)}\npromote:\n  - name: b\n    registry: { url: "${host}", namespace: site, insecure: true }\n`;
  const prepareTarget = async () => {
    const b = await startRegistry();
    targets.push(b);
    b.reached = await reach(b);
    await writeFile(tree.file, withTarget(b.reached));
    arbor(['promote', 'apply', '--auto-approve', '--release', 'r1', '-f', tree.file], root);
    return b;
  };

  // Release 2, then each way of bringing it to a B that holds release 1.
  const bs = [];
  const perRound = 4 + (before ? 1 : 0) + (REMOVED.length > 0 ? 1 : 0);
  for (let i = 0; i < perRound * RUNS; i++) bs.push(await prepareTarget());
  const profiled = values.profile ? await prepareTarget() : undefined;
  await release(2, leaves);
  const syncYaml = path.join(root, 'sync.yaml');
  await writeFile(
    syncYaml,
    `${aHost}:\n  tls-verify: false\n  images:\n${names.map((n) => `    bench/${n}: ["2025.1", "2025.1-r2", "latest"]`).join('\n')}\n`,
  );
  // The registry's floor (bench/lib/bare-promote.mjs) is handed the release's manifests, as arbor
  // finds them in its digest cache; it reads the blobs it copies from A, as arbor does.
  const floorPlan = path.join(root, 'floor-plan.json');
  await writeFile(
    floorPlan,
    JSON.stringify({
      // Leaves first, as arbor asks: the changed images are the last names.
      images: await Promise.all(
        [...names].reverse().map(async (n) => {
          const { digest, mediaType } = digests.get(n);
          const { bytes } = await clientA.getManifest(`bench/${n}`, digest);
          return {
            source: `bench/${n}`,
            target: `site/${n}`,
            digest,
            mediaType,
            manifest: bytes.toString('base64'),
            tags: ['2025.1', '2025.1-r2', 'latest'],
          };
        }),
      ),
    }),
  );
  const result = { arbor: [], floor: [], skopeoSync: [], skopeoCopy: [], before: [], inherited: [] };
  for (let i = 0; i < RUNS; i++) {
    const group = bs.slice(perRound * i, perRound * i + perRound);
    const [bArbor, bFloor, bSync, bCopy] = group;
    const bBefore = before ? group[4] : undefined;
    const bInherited = REMOVED.length > 0 ? group.at(-1) : undefined;
    const measure = async (b, fn) => {
      const markA = await a.logMark();
      const markB = await b.logMark();
      const before = await registryBytes(b);
      const cpuBefore = [childrenCpuMs(), a.cpuMs(), b.cpuMs()];
      const { ms, stdout } = fn();
      const [command, cpuA, cpuB] = [childrenCpuMs(), a.cpuMs(), b.cpuMs()].map((v, i) => v - cpuBefore[i]);
      const requestsA = (await a.requestsSince(markA)).length;
      const requestsB = await b.requestsSince(markB);
      return {
        ms,
        flipMs: Number(/written together in ([\d.]+) ms/.exec(stdout ?? '')?.[1] ?? Number.NaN),
        requestsA,
        requestsB: requestsB.length,
        manifestGetsB: requestsB.filter((r) => r.method === 'GET' && r.path.includes('/manifests/')).length,
        // CPU during the run (the machine has 2 cores): the command's own (arbor or skopeo, every
        // process of the loop), registry A's and registry B's.
        cpuMs: { command, registryA: cpuA, registryB: cpuB },
        bytesStored: (await registryBytes(b)) - before,
        // Blob bytes uploaded for the images (the release record's own blobs are left out).
        blobBytesUploaded: await b.uploadedBytes(
          requestsB.filter((r) => !r.path.includes('/arbor-releases/')),
        ),
      };
    };
    await writeFile(tree.file, withTarget(bArbor.reached));
    result.arbor.push(
      await measure(bArbor, () =>
        arbor(['promote', 'apply', '--auto-approve', '--release', 'r2', '-f', tree.file], root),
      ),
    );
    result.floor.push(
      await measure(bFloor, () =>
        run(process.execPath, [path.join(HERE, 'lib', 'bare-promote.mjs'), aHost, bFloor.reached, floorPlan]),
      ),
    );
    if (before) {
      await writeFile(tree.file, withTarget(bBefore.reached));
      result.before.push(
        await measure(bBefore, () =>
          before(['promote', 'apply', '--auto-approve', '--release', 'r2', '-f', tree.file], root),
        ),
      );
    }
    if (bInherited) {
      await writeFile(tree.file, withTarget(bInherited.reached));
      result.inherited.push(
        await measure(bInherited, () =>
          arborInherited(['promote', 'apply', '--auto-approve', '--release', 'r2', '-f', tree.file], root),
        ),
      );
    }
    if (values['no-skopeo']) continue;
    result.skopeoSync.push(
      await measure(bSync, () =>
        run('skopeo', [
          'sync',
          '--src',
          'yaml',
          '--dest',
          'docker',
          '--dest-tls-verify=false',
          syncYaml,
          `${bSync.reached}/site`,
        ]),
      ),
    );
    result.skopeoCopy.push(
      await measure(bCopy, () => {
        let total = 0;
        for (const n of names)
          for (const tag of ['2025.1', '2025.1-r2', 'latest'])
            total += run('skopeo', [
              'copy',
              '--quiet',
              '--src-tls-verify=false',
              '--dest-tls-verify=false',
              `docker://${aHost}/bench/${n}:${tag}`,
              `docker://${bCopy.reached}/site/${n}:${tag}`,
            ]).ms;
        return { ms: total };
      }),
    );
  }

  if (profiled) {
    await writeFile(tree.file, withTarget(profiled.reached));
    const profiledRun = spawnSync(
      process.execPath,
      [
        '--cpu-prof',
        '--cpu-prof-dir',
        path.resolve(values.profile),
        BIN,
        ...[
          'promote',
          'apply',
          '--auto-approve',
          ...(process.env.PROFILE_DEBUG === '0' ? [] : ['--debug']),
          '--release',
          'r2',
          '-f',
          tree.file,
        ],
      ],
      { cwd: root, env: COMMAND_ENV, encoding: 'utf8', maxBuffer: 256 << 20 },
    );
    // The --debug trace (HTTP requests and their timings) beside the profile.
    await writeFile(path.join(path.resolve(values.profile), 'promote-debug.log'), profiledRun.stderr);
    // And the no-op promotion that follows, profiled apart, with its own trace.
    const profiledNoop = spawnSync(
      process.execPath,
      [
        '--cpu-prof',
        '--cpu-prof-dir',
        path.join(path.resolve(values.profile), 'noop'),
        BIN,
        'promote',
        'apply',
        '--auto-approve',
        ...(process.env.PROFILE_DEBUG === '0' ? [] : ['--debug']),
        ...['--release', 'r2', '-f', tree.file],
      ],
      { cwd: root, env: COMMAND_ENV, encoding: 'utf8', maxBuffer: 256 << 20 },
    );
    await writeFile(path.join(path.resolve(values.profile), 'noop-debug.log'), profiledNoop.stderr);
  }

  // No-op promotion into the first arbor target, and the bare-HEAD floor for the same HEADs.
  const bNoop = bs[0];
  await writeFile(tree.file, withTarget(bNoop.reached));
  const noop = [];
  const noopBefore = [];
  let noopRequests;
  // The floor: the same HEADs on a bare undici Pool in this (warm) process. One round follows
  // each arbor no-op, so both see the machine in the same state (on two shared cores the floor
  // itself moves by a fifth within minutes); the first round only warms this process up.
  const floor = [];
  // CPU in each no-op run (arbor's, registry B's) and in each floor round (this client's, B's).
  const noopCpu = [];
  const floorCpu = [];
  const floorRound = async () => {
    const pool = new Pool(`http://${bNoop.reached}`, { connections: 8, pipelining: 8 });
    const cpuBefore = [process.cpuUsage(), bNoop.cpuMs()];
    const started = performance.now();
    await Promise.all(
      names.flatMap((n) =>
        ['2025.1', '2025.1-r2', 'latest'].map(async (tag) => {
          const r = await pool.request({
            method: 'HEAD',
            path: `/v2/site/${n}/manifests/${tag}`,
            headers: { accept: OCI_MANIFEST },
            reset: false,
          });
          await r.body.dump();
        }),
      ),
    );
    const ms = performance.now() - started;
    const client = process.cpuUsage(cpuBefore[0]);
    const cpu = { client: (client.user + client.system) / 1000, registryB: bNoop.cpuMs() - cpuBefore[1] };
    await pool.close();
    return { ms, cpu };
  };
  await floorRound();
  const noopArgs = ['promote', 'apply', '--auto-approve', '--release', 'r2', '-f', tree.file];
  for (let i = 0; i < NOOP_RUNS; i++) {
    // With --before, the two CLIs take turns, each first in every other round.
    const order = before ? (i % 2 ? ['before', 'arbor'] : ['arbor', 'before']) : ['arbor'];
    for (const who of order) {
      const mark = await bNoop.logMark();
      const cpuBefore = [childrenCpuMs(), bNoop.cpuMs()];
      const { stdout, ms } = (who === 'arbor' ? arbor : before)(noopArgs, root);
      const cpu = { command: childrenCpuMs() - cpuBefore[0], registryB: bNoop.cpuMs() - cpuBefore[1] };
      if (!stdout.includes('No changes')) throw new Error(`no-op promotion did something:\n${stdout}`);
      if (who === 'arbor') {
        noop.push(ms);
        noopCpu.push(cpu);
        noopRequests = await bNoop.requestsSince(mark);
        const { ms: floorMs, cpu: floorRoundCpu } = await floorRound();
        floor.push(floorMs);
        floorCpu.push(floorRoundCpu);
      } else noopBefore.push(ms);
    }
  }
  // Node start-up and reading the release record are part of arbor's wall time, not of the floor.
  const startup = nodeStartUpMs(COMMAND_ENV);
  const startupInherited = REMOVED.length > 0 ? nodeStartUpMs(INHERITED_ENV) : startup;
  // The same HEADs from a fresh process (bare undici, nothing else): what any Node CLI pays at least.
  const headList = path.join(root, 'heads.json');
  await writeFile(
    headList,
    JSON.stringify(names.flatMap((n) => ['2025.1', '2025.1-r2', 'latest'].map((tag) => [`site/${n}`, tag]))),
  );
  const freshFloor = median(
    Array.from(
      { length: 5 },
      () => run(process.execPath, [path.join(HERE, 'lib', 'bare-heads.mjs'), bNoop.reached, headList]).ms,
    ),
  );

  /** The median wall time of one way's runs. */
  const wall = (key) => median(result[key].map((r) => r.ms));
  const summary = (key) => ({
    wallMs: round(wall(key)),
    runsMs: result[key].map((r) => round(r.ms)),
    requestsA: median(result[key].map((r) => r.requestsA)),
    requestsB: median(result[key].map((r) => r.requestsB)),
    manifestGetsB: median(result[key].map((r) => r.manifestGetsB)),
    bytesStoredAtB: median(result[key].map((r) => r.bytesStored)),
    blobBytesUploaded: median(result[key].map((r) => r.blobBytesUploaded)),
    cpuMs: Object.fromEntries(
      ['command', 'registryA', 'registryB'].map((k) => [k, median(result[key].map((r) => r.cpuMs[k]))]),
    ),
  });
  const out = {
    benchmark: 'promote',
    images: IMAGES,
    changed: CHANGED,
    tagsPerImage: 3,
    roundTripMs: RTT,
    node: process.version,
    loadAverage1m: { start: round(loadStart), end: round(loadavg()[0]) },
    // What the commands ran without (bench/lib/command-env.mjs), and what `node -e 0` takes with
    // and without it: a cost every Node process pays before its first line, and no Go one.
    environment: {
      removedFromCommands: REMOVED,
      nodeStartUpMs: { commands: round(startup), inherited: round(startupInherited) },
    },
    arbor: { ...summary('arbor'), flipWindowMs: result.arbor.map((r) => r.flipMs) },
    ...(before
      ? {
          before: {
            checkout: path.resolve(values.before),
            ...summary('before'),
            ratioToArbor: round(wall('before') / wall('arbor')),
            noopWallMs: round(median(noopBefore)),
            noopRunsMs: noopBefore.map(round),
          },
        }
      : {}),
    // The same promotion with only the requests the API requires, from a fresh Node process.
    registryFloor: summary('floor'),
    ratioToRegistryFloor: round(wall('arbor') / wall('floor')),
    skopeoSync: summary('skopeoSync'),
    skopeoCopyLoop: summary('skopeoCopy'),
    ratioSync: round(wall('skopeoSync') / wall('arbor')),
    // The most any Node command line could be faster than skopeo sync here: the floor's ratio.
    ratioSyncToRegistryFloor: round(wall('skopeoSync') / wall('floor')),
    ratioCopyLoop: round(wall('skopeoCopy') / wall('arbor')),
    // arbor again, in each round, with the variables the commands ran without: as this machine's
    // shell would run it (Node 20 pays for them at start-up; Node 24 does not).
    ...(result.inherited.length > 0
      ? {
          arborInheritedEnv: {
            variables: REMOVED,
            ...summary('inherited'),
            ...(result.skopeoSync.length > 0
              ? {
                  ratioSync: round(wall('skopeoSync') / wall('inherited')),
                }
              : {}),
          },
        }
      : {}),
    // The distinct blobs release 2 has and release 1 had not: what a target holding release 1 lacks.
    missingBlobBytes: missingAtTarget,
    noop: {
      wallMs: round(median(noop)),
      runsMs: noop.map(round),
      requests: noopRequests.length,
      heads: noopRequests.filter((r) => r.method === 'HEAD').length,
      manifestGets: noopRequests.filter((r) => r.method === 'GET' && r.path.includes('/manifests/')).length,
      bareHeadFloorMs: round(median(floor)),
      nodeStartupMs: round(startup),
      ratioToFloor: round(median(noop) / median(floor)),
      // Each no-op over the floor round right after it: the ratio under one machine state.
      pairedRatios: noop.map((ms, i) => round(ms / floor[i])),
      ratioToFloorPaired: round(median(noop.map((ms, i) => ms / floor[i]))),
      ratioToFloorWithoutStartup: round((median(noop) - startup) / median(floor)),
      freshProcessFloorMs: round(freshFloor),
      ratioToFreshProcessFloor: round(median(noop) / freshFloor),
      // Where the time goes: the registry's CPU for the same HEADs (less for arbor's: they ask
      // If-None-Match, answered 304 without reading the manifest) and the client's. On this
      // machine's cores, a run needs at least (command + registry) / cores of wall time.
      cpuMs: {
        command: median(noopCpu.map((c) => c.command)),
        registryB: median(noopCpu.map((c) => c.registryB)),
      },
      floorCpuMs: {
        client: round(median(floorCpu.map((c) => c.client))),
        registryB: median(floorCpu.map((c) => c.registryB)),
      },
      cores: availableParallelism(),
      cpuBoundMs: round(median(noopCpu.map((c) => (c.command + c.registryB) / availableParallelism()))),
    },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  for (const link of links) await link.stop();
  for (const b of targets) await b.stop();
  await a.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
}
