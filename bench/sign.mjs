// Signing cost (issue 16, "Cost"): the 187-image tree of bench/lib/generate-tree.mjs with every
// image already in a loopback registry (tiny images uploaded by arbor's client, not built), then
// tag-only applies (a new patch tag on every image), `node bin/arbor.js apply --auto-approve`
// timed as a user runs it:
//   - baseline:   no `signing:` in images.yaml;
//   - firstSign:  the first apply with `signing:` (GPG + sigstore key, SBOM, provenance): every
//                 image gets a GPG signature per tag and three attachments (one run: it happens once);
//   - signed:     later applies with `signing:` (one new GPG signature per image, attachments
//                 found present), alternated with the baseline runs.
// Target: signed ≤ 1.10 × baseline. Then `arbor verify -f … --tag T` of the 187 images (GPG +
// sigstore + SBOM + provenance checked), with the requests it sent (registry access log), against
// the registry's bare-HEAD floor: as many HEADs on a bare undici Pool (8 connections, pipelined).
// Target: verify ≤ 2 × floor. Prints JSON.
//
//   npm run build && node bench/sign.mjs [--images 187] [--runs 5] [--verify-runs 5] [--keep]
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import tar from 'tar-stream';
import { Pool } from 'undici';
import { createRegistryClient } from '../dist/registry/client.js';
import { generateTree } from './lib/generate-tree.mjs';
import { publishPlanned, startRegistry } from './lib/registry.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'arbor.js');

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '187' },
    runs: { type: 'string', default: '5' },
    'verify-runs': { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    // One more signed apply and one verify under `node --cpu-prof`, profiles written into this directory.
    profile: { type: 'string' },
  },
});
const IMAGES = Number(values.images);
const RUNS = Number(values.runs);
const VERIFY_RUNS = Number(values['verify-runs']);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;
const load = () => round(loadavg()[0]);

function arbor(args, cwd, env, nodeFlags = []) {
  const started = performance.now();
  const r = spawnSync(process.execPath, [...nodeFlags, BIN, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const wallMs = performance.now() - started;
  if (r.status !== 0)
    throw new Error(`arbor ${args.join(' ')} exited ${r.status}: ${r.stderr}\n${r.stdout.slice(-2000)}`);
  return { stdout: r.stdout, stderr: r.stderr, wallMs };
}

const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-sign-'));
const gnupg = await mkdtemp(path.join(tmpdir(), 'arbor-bench-gnupg-'));
const registry = await startRegistry();
const env = { GNUPGHOME: gnupg, COSIGN_PASSPHRASE: 'bench-passphrase' };
try {
  // Keys: a GPG key in a throwaway GnuPG home, an encrypted PKCS#8 P-256 key for sigstore.
  execFileSync(
    'gpg',
    [
      '--batch',
      '--quiet',
      '--passphrase',
      '',
      '--quick-gen-key',
      'bench <bench@example.invalid>',
      'ed25519',
      'sign',
      'never',
    ],
    { env: { ...process.env, ...env } },
  );
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(
    execFileSync('gpg', ['--batch', '--list-secret-keys', '--with-colons'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    }),
  )[1];
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFile(
    path.join(root, 'cosign.key'),
    privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: env.COSIGN_PASSPHRASE,
    }),
  );
  await writeFile(path.join(root, 'cosign.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

  const tree = await generateTree(root, { images: IMAGES, filesPerImage: 5 });
  const base = (await readFile(tree.file, 'utf8'))
    .replace('url: 127.0.0.1:5000', `url: "${registry.host}"`)
    .replace('  release: "2025.1"\n', '  release: "2025.1"\n  patch: 0\n')
    .replace('\nimages:\n', '\ntags:\n  - "{{ release }}"\n  - "{{ release }}-p{{ patch }}"\nimages:\n');
  const signing = `signing:\n  gpg: { key: ${fingerprint}, lookaside: lookaside }\n  sigstore: { key: cosign.key, passphrase_env: COSIGN_PASSPHRASE }\n`;
  let patch = 0;
  const write = (signed) =>
    writeFile(tree.file, base.replace('  patch: 0\n', `  patch: ${patch}\n`) + (signed ? signing : ''));

  // Every image in the registry under its fingerprint tag and patch 0's tags.
  await write(false);
  const plan = JSON.parse(arbor(['plan', '--format', 'json', '-f', tree.file], root, env).stdout);
  const client = createRegistryClient({ registry: registry.host, insecure: true });
  await publishPlanned(client, registry.host, plan, { layer: await dpkgLayer(60) });
  await client.close();

  const tagOnlyApply = async (signed) => {
    patch++;
    await write(signed);
    const loadBefore = load();
    const mark = await registry.logMark();
    const { stdout, wallMs } = arbor(['apply', '--auto-approve', '-f', tree.file], root, env);
    if (!stdout.includes(`0 built, ${IMAGES} tagged`))
      throw new Error(`not a tag-only apply:\n${stdout.slice(-1500)}`);
    const requests = (await registry.requestsSince(mark)).length;
    return {
      wallMs,
      requests,
      load: loadBefore,
      signing: stdout.split('\n').find((l) => l.startsWith('Signing:')),
    };
  };

  // One untimed apply warms the page cache and the file-hash cache.
  await tagOnlyApply(false);
  const firstSign = await tagOnlyApply(true);
  const baseline = [];
  const signed = [];
  for (let i = 0; i < RUNS; i++) {
    baseline.push(await tagOnlyApply(false));
    signed.push(await tagOnlyApply(true));
  }

  if (values.profile) {
    const flags = ['--cpu-prof', '--cpu-prof-dir', path.resolve(values.profile)];
    patch++;
    await write(true);
    arbor(['apply', '--auto-approve', '-f', tree.file], root, env, flags);
    // The --debug traces (requests with their timings) of one tag-only apply without and one with
    // signing, beside the profile: where the difference goes.
    for (const signedRun of [false, true]) {
      patch++;
      await write(signedRun);
      const { stderr } = arbor(['apply', '--auto-approve', '--debug', '-f', tree.file], root, env);
      await writeFile(
        path.join(path.resolve(values.profile), `apply-${signedRun ? 'signed' : 'baseline'}-debug.log`),
        stderr,
      );
    }
  }

  // Verify the latest release: every image at its newest patch tag.
  const tag = `2025.1-p${patch}`;
  const verifyRuns = [];
  let verifyRequests;
  let verifyLog;
  for (let i = 0; i < VERIFY_RUNS; i++) {
    const mark = await registry.logMark();
    const { stdout, wallMs } = arbor(['verify', '-f', tree.file, '--tag', tag], root, env);
    if (!stdout.includes(`Verify: ${IMAGES} of ${IMAGES} image(s) verified.`))
      throw new Error(`verify failed:\n${stdout.slice(-1500)}`);
    verifyRuns.push(wallMs);
    if (i === 0) {
      verifyLog = await registry.requestsSince(mark);
      verifyRequests = verifyLog.length;
    }
    if (i === 0 && values.profile)
      arbor(['verify', '-f', tree.file, '--tag', tag], root, env, [
        '--cpu-prof',
        '--cpu-prof-dir',
        path.resolve(values.profile),
      ]);
  }
  const repositories = plan.images.map((i) => i.repository.slice(registry.host.length + 1));
  const floors = [];
  const replays = [];
  for (let i = 0; i < VERIFY_RUNS; i++) {
    floors.push(await headFloor(registry.host, repositories, tag, verifyRequests));
    replays.push(await replay(registry.host, verifyLog));
  }
  const nodeStartupMs = median(
    Array.from({ length: 5 }, () => {
      const t = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      return performance.now() - t;
    }),
  );

  const baselineMs = median(baseline.map((r) => r.wallMs));
  const signedMs = median(signed.map((r) => r.wallMs));
  const verifyMs = median(verifyRuns);
  const floorMs = median(floors);
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'sign',
        images: IMAGES,
        node: process.version,
        loadAverage1m: load(),
        tagOnlyApply: {
          baselineMs: round(baselineMs),
          baselineRunsMs: baseline.map((r) => round(r.wallMs)),
          baselineRequests: baseline[0].requests,
          signedMs: round(signedMs),
          signedRunsMs: signed.map((r) => round(r.wallMs)),
          signedRequests: signed[0].requests,
          signedOverBaseline: round((signedMs / baselineMs) * 100) / 100,
          signedSummary: signed[0].signing,
          firstSign: {
            wallMs: round(firstSign.wallMs),
            requests: firstSign.requests,
            summary: firstSign.signing,
            overBaseline: round((firstSign.wallMs / baselineMs) * 100) / 100,
          },
          loads: [...baseline, ...signed].map((r) => r.load),
          target: 1.1,
          withinTarget: signedMs <= baselineMs * 1.1,
        },
        verify: {
          medianMs: round(verifyMs),
          runsMs: verifyRuns.map(round),
          requests: verifyRequests,
          requestsPerImage: round(verifyRequests / IMAGES),
          headFloorMs: round(floorMs),
          headFloorRunsMs: floors.map(round),
          // The very requests verify sent (method and path from the access log), replayed bare:
          // what the registry needs for them (blob and manifest GETs cost it more than HEADs).
          sameRequestsBareMs: round(median(replays)),
          overSameRequestsBare: round((verifyMs / median(replays)) * 100) / 100,
          nodeStartupMs: round(nodeStartupMs),
          overFloor: round((verifyMs / floorMs) * 100) / 100,
          target: 2,
          withinTarget: verifyMs <= floorMs * 2,
        },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await registry.stop();
  spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, ...env } });
  if (!values.keep) {
    await rm(root, { recursive: true, force: true });
    await rm(gnupg, { recursive: true, force: true });
  } else process.stderr.write(`sign: tree kept in ${root}\n`);
}

/** The logged requests, replayed on a bare undici Pool (8 connections, HEADs pipelined). */
async function replay(host, requests) {
  const pool = new Pool(`http://${host}`, { connections: 8, pipelining: 8 });
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
  const run = pLimit(64);
  const start = performance.now();
  await Promise.all(
    requests.map((r) =>
      run(async () => {
        const { body } = await pool.request({ method: r.method, path: r.path, headers: { accept } });
        await body.dump();
      }),
    ),
  );
  const ms = performance.now() - start;
  await pool.close();
  return ms;
}

/** An uncompressed tar layer holding a dpkg status file of `count` packages: what the SBOM reads. */
async function dpkgLayer(count) {
  const status = Array.from(
    { length: count },
    (_, i) =>
      `Package: pkg${i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.${i}-1\nDescription: package ${i}\n`,
  ).join('\n');
  const pack = tar.pack();
  const chunks = [];
  pack.on('data', (c) => chunks.push(c));
  const ended = new Promise((resolve) => pack.on('end', resolve));
  pack.entry({ name: 'etc/os-release', mtime: new Date(0) }, 'ID=debian\n');
  pack.entry({ name: 'var/lib/dpkg/status', mtime: new Date(0) }, status);
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** `count` bare HEADs of the release's manifests on one undici Pool: what the registry needs to answer that many requests. */
async function headFloor(host, repositories, tag, count) {
  const pool = new Pool(`http://${host}`, { connections: 8, pipelining: 8 });
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
  const run = pLimit(64);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      run(async () => {
        const { statusCode, body } = await pool.request({
          method: 'HEAD',
          path: `/v2/${repositories[i % repositories.length]}/manifests/${tag}`,
          headers: { accept },
        });
        await body.dump();
        if (statusCode !== 200) throw new Error(`HEAD: ${statusCode}`);
      }),
    ),
  );
  const ms = performance.now() - start;
  await pool.close();
  return ms;
}
