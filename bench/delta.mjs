// Issue 14: layer deltas on real data. Two Debian bookworm minbase rootfs layers built by
// mmdebstrap (bookworm alone, and with bookworm-updates + bookworm-security: a real security
// update of a base layer; bench/lib/debian-rootfs.mjs caches them).
//
// 1. encodings: the delta encodings side by side on that pair (size, publisher time/CPU/memory,
//    site rebuild time/memory, byte-exact), against sending the layer whole.
// 2. publishing: publishDeltas for release 2 of a small image family (a FROM-scratch rootfs image
//    and two children with a few small layers), pushed with arbor's LayerGzip through the registry
//    client to a central loopback registry: time and CPU (arbor + zstd) per GB of new layers.
// 3. end to end: site registries holding release 1 take release 2 through a byte-counting loopback
//    proxy (the WAN link): `arbor sync --release r2` as a site runs it (deltas), the same with
//    `--no-deltas` (the whole missing blobs: HEAD, cross-repository mount at the site, else GET),
//    and `skopeo sync`.
//    Bytes on the wire each way, digests at the site, and `docker pull` + `docker run` of the
//    rebuilt images from the delta site.
//
//   npm run build && node bench/delta.mjs [--runs 1] [--skip encodings,e2e] [--cache-dir DIR] [--rebuild]
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pack } from 'tar-stream';
import { compressTar, compressTarFile } from '../dist/delta/layer-files.js';
import { DeltaPublishCache, publishDeltas } from '../dist/delta/publish.js';
import * as zstd from '../dist/delta/zstd.js';
import { createRegistryClient } from '../dist/registry/client.js';
import { copyImage } from '../dist/registry/copy.js';
import { releasesRepository, writeRecord } from '../dist/release/store.js';
import { startByteProxy } from './lib/byte-proxy.mjs';
import { debianRootfsPair } from './lib/debian-rootfs.mjs';
import {
  contentDefinedChunks,
  measured,
  sha256File,
  tarDiffEmulated,
  wholeLayer,
  xdelta3,
  zstdArbor,
  zstdPlain,
} from './lib/delta-encodings.mjs';
import { pushManifest, startRegistry } from './lib/registry.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    skip: { type: 'string', default: '' },
    'cache-dir': { type: 'string', default: '/var/cache/arbor-bench' },
    rebuild: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SKIP = new Set(values.skip.split(',').filter(Boolean));
const DOCKER = '/usr/bin/docker';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const load = () => Math.round(loadavg()[0] * 100) / 100;
const log = (line) => process.stderr.write(`delta: ${line}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const GB = 1e9;

function run(command, args) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const BIN = join(fileURLToPath(new URL('..', import.meta.url)), 'bin', 'arbor.js');

/** Like run, without blocking the event loop: the byte-counting proxy lives in this process. */
async function runAsync(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`);
  return stdout;
}

/** Each encoding `RUNS` times: the size of the first, medians of the timings. */
async function compareEncodings(dir, pair) {
  const windowLog = zstd.patchParameters(pair.oldBytes, pair.newBytes).windowLog;
  const encoders = [
    zstdArbor(zstd),
    zstdPlain(19, windowLog),
    zstdPlain(3, windowLog),
    xdelta3(windowLog),
    tarDiffEmulated,
    contentDefinedChunks,
  ];
  const rows = [];
  for (const encode of encoders) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      const loadBefore = load();
      const row = await encode(dir, pair);
      runs.push({ ...row, load: [loadBefore, load()] });
    }
    const pick = (side, key) =>
      runs[0][side] && runs[0][side][key] !== null ? round(median(runs.map((r) => r[side][key]))) : null;
    const first = runs[0];
    const row = {
      ...first,
      deltaPercentOfGzipLayer: round((100 * first.deltaBytes) / pair.newGzipBytes),
      publish: first.publish && {
        wallS: pick('publish', 'wallS'),
        cpuS: pick('publish', 'cpuS'),
        maxRssMB: first.publish.maxRssMB,
      },
      site: first.site && { ...first.site, wallS: pick('site', 'wallS'), cpuS: pick('site', 'cpuS') },
      runs: runs.length,
      load: runs.map((r) => r.load),
    };
    log(`${row.encoding}: ${row.deltaBytes} B, publish ${row.publish?.cpuS} s CPU`);
    rows.push(row);
  }
  return rows;
}

/** A tar of generated text files (a tools or app layer); `variant` changes some files and every mtime. */
async function childTar(files, fileBytes, variant) {
  const archive = pack();
  for (let i = 0; i < files; i++) {
    const changed = variant > 1 && i % 10 === 0;
    const lines = [];
    for (let n = 0, x = i + 1; n < fileBytes; ) {
      x = (Math.imul(x, 1103515245) + 12345 + (changed ? variant : 0)) >>> 0;
      const line = `def f_${x % 9973}(a, b): return a * ${x % 257} + b  # ${x.toString(16)}\n`;
      lines.push(line);
      n += line.length;
    }
    const content = Buffer.from(lines.join('')).subarray(0, fileBytes);
    archive.entry(
      {
        name: `opt/app/mod${i}.py`,
        size: content.length,
        mtime: new Date(1_700_000_000_000 + variant * 86_400_000),
      },
      content,
    );
  }
  archive.finalize();
  return buffer(archive);
}

/** A layer compressed with LayerGzip into a temp file: descriptor, diffID, path. */
async function layerFile(dir, name, tar) {
  const path = join(dir, `${name}.tar.gz`);
  const source = typeof tar === 'string' ? createReadStream(tar) : Readable.from([tar]);
  const c = await compressTar(source, path);
  return {
    path,
    diffId: c.diffId,
    tarSize: c.tarSize,
    descriptor: { mediaType: OCI_LAYER_GZIP, digest: c.digest, size: c.size },
  };
}

async function pushImage(client, repository, tag, layers) {
  for (const layer of layers)
    if (!(await client.headBlob(repository, layer.descriptor.digest)))
      await client.uploadBlob(
        repository,
        layer.descriptor.digest,
        () => createReadStream(layer.path),
        layer.descriptor.size,
      );
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Cmd: ['/bin/bash'],
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((l) => ({ created: '2025-01-01T00:00:00Z', created_by: l.command })),
    }),
  );
  return pushManifest(
    client,
    repository,
    [tag],
    config,
    layers.map((l) => l.descriptor),
  );
}

/** The image family of both releases: base (rootfs), tools (+ 2 MB of modules), app (+ two small layers). */
async function buildFamily(dir, pair) {
  const releases = {};
  for (const release of [1, 2]) {
    const rootfs = await layerFile(dir, `rootfs${release}`, release === 1 ? pair.old : pair.new);
    const tools = await layerFile(dir, `tools${release}`, await childTar(40, 50_000, release));
    const app = await layerFile(dir, `app${release}`, await childTar(6, 5_000, release));
    const conf = await layerFile(dir, `conf${release}`, await childTar(1, 800, release));
    rootfs.command = 'ADD file:rootfs in /';
    tools.command = 'COPY tools /opt/app';
    app.command = 'COPY app /opt/app';
    conf.command = 'COPY app.conf /opt/app';
    releases[release] = { base: [rootfs], tools: [rootfs, tools], app: [rootfs, tools, app, conf] };
  }
  return releases;
}

function uniqueLayers(images) {
  const byDigest = new Map();
  for (const layers of Object.values(images)) for (const l of layers) byDigest.set(l.descriptor.digest, l);
  return [...byDigest.values()];
}

async function endToEnd(dir, pair) {
  const central = await startRegistry();
  const sites = {
    deltas: await startRegistry(),
    whole: await startRegistry(),
    skopeo: await startRegistry(),
  };
  const link = await startByteProxy(Number(central.host.split(':')[1]));
  const client = (host) => createRegistryClient({ registry: host, insecure: true });
  const centralClient = client(central.host);
  const viaLink = client(link.host);
  const siteClients = Object.fromEntries(Object.entries(sites).map(([k, r]) => [k, client(r.host)]));
  const pulled = [];
  try {
    const family = await buildFamily(dir, pair);
    const names = Object.keys(family[1]);
    const digests = { 1: {}, 2: {} };
    for (const release of [1, 2])
      for (const name of names)
        digests[release][name] = await pushImage(
          centralClient,
          `bench/${name}`,
          `r${release}`,
          family[release][name],
        );

    // Publishing: deltas for every image of release 2 against its release 1.
    const r1Digests = new Set(uniqueLayers(family[1]).map((l) => l.descriptor.digest));
    const newLayers = uniqueLayers(family[2]).filter((l) => !r1Digests.has(l.descriptor.digest));
    const cache = new DeltaPublishCache();
    // As in apply: arbor compressed these layers itself, so they are known reproducible.
    const compressedByArbor = new Set(
      [...uniqueLayers(family[1]), ...uniqueLayers(family[2])].map((l) => l.descriptor.digest),
    );
    const loadBefore = load();
    const published = await measured(async () => {
      const rows = [];
      for (const name of names) {
        const repository = `bench/${name}`;
        const [m1, m2] = await Promise.all([
          centralClient.getManifest(repository, 'r1'),
          centralClient.getManifest(repository, 'r2'),
        ]);
        rows.push(
          ...(await publishDeltas(centralClient, repository, m2, [{ manifest: m1 }], {
            cache,
            compressedByArbor,
          })),
        );
      }
      return rows;
    });
    const layerBytes = newLayers.reduce((n, l) => n + l.descriptor.size, 0);
    const tarBytes = newLayers.reduce((n, l) => n + l.tarSize, 0);
    const publishing = {
      newLayers: newLayers.length,
      newLayerBytes: layerBytes,
      newTarBytes: tarBytes,
      wallS: round(published.wallS),
      cpuS: round(published.cpuS),
      perGBOfLayers: {
        wallS: round(published.wallS / (layerBytes / GB), 1),
        cpuS: round(published.cpuS / (layerBytes / GB), 1),
      },
      perGBOfTar: {
        wallS: round(published.wallS / (tarBytes / GB), 1),
        cpuS: round(published.cpuS / (tarBytes / GB), 1),
      },
      outcomes: published.value.map((r) => ({
        image: r.subject.slice(0, 19),
        target: r.target.slice(0, 19),
        outcome: r.outcome,
        reason: r.reason,
        seconds: round(r.seconds),
      })),
      load: [loadBefore, load()],
    };
    log(`published: ${JSON.stringify(publishing.perGBOfLayers)} per GB of layers`);

    // Every site holds release 1 (copied directly, not over the link).
    for (const name of names)
      for (const site of Object.values(siteClients))
        await copyImage(centralClient, `bench/${name}`, 'r1', site, `bench/${name}`, ['r1']);

    const wire = {};
    const timedOverLink = async (method, work) => {
      link.reset();
      const l0 = load();
      const m = await measured(work);
      const bytes = link.bytes();
      wire[method] = {
        toSite: bytes.toSite,
        toCentral: bytes.toCentral,
        wallS: round(m.wallS),
        load: [l0, load()],
      };
      log(`${method}: ${bytes.toSite} B to the site`);
      return m.value;
    };
    // `arbor sync` of release 2 as a site runs it, over the link: with deltas, and without (the
    // whole missing blobs, HEAD and cross-repository mount at the site first).
    const records = releasesRepository('bench', 'arbor-releases');
    for (const release of [1, 2]) {
      const images = [];
      for (const name of names) {
        const head = await centralClient.headManifest(`bench/${name}`, `r${release}`);
        images.push({
          name,
          repository: `bench/${name}`,
          digest: head.digest,
          mediaType: head.mediaType,
          size: head.size,
          fingerprint: '',
          fingerprintTag: '',
          tags: [`r${release}`],
        });
      }
      await writeRecord(centralClient, records, {
        formatVersion: 1,
        release: `r${release}`,
        created: new Date().toISOString(),
        registry: central.host,
        namespace: 'bench',
        configDigest: '',
        images,
      });
    }
    const sync = async (site, deltas) => {
      const out = await runAsync(process.execPath, [
        BIN,
        'sync',
        `${link.host}/bench`,
        `${site.host}/bench`,
        '--release',
        'r2',
        '--insecure',
        '--auto-approve',
        ...(deltas ? [] : ['--no-deltas']),
      ]);
      return out;
    };
    const viaDeltas = await timedOverLink('arborDeltas', () => sync(sites.deltas, true));
    await timedOverLink('wholeMissingBlobs', () => sync(sites.whole, false));
    await timedOverLink('skopeoSync', async () => {
      for (const name of names)
        await runAsync('skopeo', [
          'sync',
          '--src',
          'docker',
          '--dest',
          'docker',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          `${link.host}/bench/${name}:r2`,
          `${sites.skopeo.host}/bench`,
        ]);
    });

    const digestsAtSites = {};
    for (const [method, site] of Object.entries(siteClients)) {
      digestsAtSites[method] = true;
      for (const name of names) {
        const head = await site.headManifest(`bench/${name}`, 'r2');
        if (head?.digest !== digests[2][name]) digestsAtSites[method] = false;
      }
    }
    const missingLayerBytes = newLayers.reduce((n, l) => n + l.descriptor.size, 0);
    const rootfs2 = family[2].base[0].descriptor;

    // The rebuilt images work: docker pulls them from the delta site and runs the app image.
    const ref = `${sites.deltas.host}/bench/app:r2`;
    run(DOCKER, ['pull', '-q', ref]);
    pulled.push(ref);
    const ran = run(DOCKER, [
      'run',
      '--rm',
      '--network',
      'none',
      ref,
      '/bin/sh',
      '-c',
      'cat /etc/debian_version; dpkg-query -W libpam0g tzdata; ls /opt/app | wc -l',
    ]);

    return {
      images: names.map((name) => ({ name, r1: digests[1][name], r2: digests[2][name] })),
      publishing,
      wire,
      missingLayerBytes,
      rootfsLayerBytes: rootfs2.size,
      // What `arbor sync` planned and did (its own summary lines).
      arborSync: viaDeltas.split('\n').filter((l) => /^(Plan|Sync| {2}delta not used)/.test(l)),
      layerSources: viaDeltas
        .split('\n')
        .filter((l) => /^ {6}sha256:\S+ (delta|whole):/.test(l))
        .map((l) => l.trim()),
      deltaWireVsWhole: round(wire.arborDeltas.toSite / wire.wholeMissingBlobs.toSite, 4),
      deltaWireVsMissingLayers: round(wire.arborDeltas.toSite / missingLayerBytes, 4),
      target: 0.05,
      met: wire.arborDeltas.toSite <= 0.05 * missingLayerBytes,
      digestsIdenticalAtSite: digestsAtSites,
      dockerRun: ran.trim().split('\n'),
    };
  } finally {
    for (const ref of pulled) spawnSync(DOCKER, ['rmi', '-f', ref]);
    await Promise.all([centralClient, viaLink, ...Object.values(siteClients)].map((c) => c.close()));
    await link.stop();
    await Promise.all([central, ...Object.values(sites)].map((r) => r.stop()));
  }
}

// Tools only this benchmark uses (the project itself needs zstd alone, from scripts/setup-host.sh).
const needed = {
  mmdebstrap: 'mmdebstrap',
  xdelta3: 'xdelta3',
  bsdiff: 'bsdiff',
  '/usr/bin/time': 'time',
  skopeo: 'skopeo',
};
const missing = Object.entries(needed).filter(
  ([tool]) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
);
if (missing.length > 0) {
  process.stderr.write(`delta: missing tools; apt-get install ${missing.map(([, p]) => p).join(' ')}\n`);
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'arbor-bench-delta-'));
try {
  const pair = await debianRootfsPair({ cacheDir: values['cache-dir'], rebuild: values.rebuild });
  pair.newSha256 = await sha256File(pair.new);
  const gzip = await measured(() => compressTarFile(pair.new));
  pair.newGzipBytes = gzip.value.size;
  const out = {
    machine: {
      cpus: (await import('node:os')).cpus().length,
      node: process.version,
      zstd: run('zstd', ['-V']).trim(),
    },
    data: {
      oldTarBytes: pair.oldBytes,
      newTarBytes: pair.newBytes,
      newGzipBytes: pair.newGzipBytes,
      layerGzipSeconds: round(gzip.wallS),
      layerGzipCpuS: round(gzip.cpuS),
      packages: pair.packages,
      changedPackages: pair.changedPackages,
      built: pair.built,
    },
  };
  if (!SKIP.has('encodings')) {
    out.whole = await wholeLayer(dir, pair, pair.newGzipBytes);
    out.encodings = await compareEncodings(dir, pair);
  }
  if (!SKIP.has('e2e')) out.endToEnd = await endToEnd(dir, pair);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
