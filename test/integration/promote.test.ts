// arbor promote between two real registries: A (plain, the tree's CI registry) and B (token auth),
// the default tree applied to A first. Digests identical at B, only the blobs B lacked sent,
// a second promotion only HEADs, gates and immutable tags refuse before anything moves, arbor or
// registry B killed in every phase and a rerun converges, a poller of B never sees two releases
// mixed outside the flip, rollback puts the previous digests back, the pull budget the target
// announces is shown in the plan and refuses a promotion that needs more than remains, and tokens
// B refuses in the middle of a promotion (expired or revoked) are replaced without a mixed release.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalDir, readJournal } from '../../src/promote/journal.js';
import { attachArtifact } from '../../src/registry/attach.js';
import { createAuthenticator } from '../../src/registry/auth/index.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { isIndex } from '../../src/registry/manifest-model.js';
import { copyImageTo } from '../../src/transfer/copy-image.js';
import { BlobLedger } from '../../src/transfer/ledger.js';
import { emptyTotals } from '../../src/transfer/model.js';
import { SourceManifests } from '../../src/transfer/source-manifests.js';
import { BIN } from '../support/cli.js';
import { dockerConfigFor } from '../support/docker-config.js';
import { requireEngine } from '../support/engine.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, freePort, startRegistry, type TestRegistry } from '../support/registry.js';
import { createCa, issueCertificate } from '../support/tls.js';
import { everything, startTokenServer, type TokenServer } from '../support/token-server.js';
import { copyDefaultTree, removeLocalImages, requestsSince, type TreeCopy } from '../support/tree.js';
import { day, pushVersion } from './retention-fixtures.js';

const USER = 'site';
const PASSWORD = 'site-Pa55word-promote';
const IMAGES = [
  'base',
  'openstack-base',
  'keystone-base',
  'keystone',
  'glance-base',
  'glance-api',
  'nova-base',
  'nova-api',
  'nova-scheduler',
  'cron',
];

let a: TestRegistry;
let b: TestRegistry;
let proxy: FaultProxy;
let tokens: TokenServer;
let tree: TreeCopy;
let dockerConfig: string;
let clientA: RegistryClient;
let clientB: RegistryClient;

async function arbor(args: string[], env: Record<string, string> = {}) {
  const result = await execa(process.execPath, [BIN, ...args, '-f', tree.file], {
    cwd: tree.dir,
    env: { NO_COLOR: '1', CI: '1', DOCKER_CONFIG: dockerConfig, ...env },
    reject: false,
  });
  return { code: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** The digest every image's `tag` names at B (through the proxy: what a puller sees). */
async function digestsAtB(tag: string): Promise<Record<string, string | null>> {
  const heads = await Promise.all(IMAGES.map((name) => clientB.headManifest(`site/${name}`, tag)));
  return Object.fromEntries(IMAGES.map((name, i) => [name, heads[i]?.digest ?? null]));
}

async function digestsAtA(tag: string): Promise<Record<string, string | null>> {
  const heads = await Promise.all(IMAGES.map((name) => clientA.headManifest(`arbor-demo/${name}`, tag)));
  return Object.fromEntries(IMAGES.map((name, i) => [name, heads[i]?.digest ?? null]));
}

/** Every distinct blob (config, layers, index children's) of the images at A's `tag`. */
async function uniqueBlobsAtA(tag: string): Promise<Map<string, number>> {
  const blobs = new Map<string, number>();
  for (const name of IMAGES) {
    const walk = async (ref: string) => {
      const m = await clientA.getManifest(`arbor-demo/${name}`, ref);
      if (isIndex(m.json)) for (const c of m.json.manifests) await walk(c.digest);
      else for (const d of [m.json.config, ...m.json.layers]) blobs.set(d.digest, d.size);
    };
    await walk(tag);
  }
  return blobs;
}

/** The tree's patch level now (tests may run alone, or after others that made more releases). */
async function currentPatch(): Promise<number> {
  return Number(/^ {2}patch: (\d+)$/m.exec(await readFile(tree.file, 'utf8'))![1]);
}

/** What B received through the proxy since `since` that writes (a refused plan must send none). */
function writesAtB(since: number) {
  return proxy.requests.slice(since).filter((r) => /^(PUT|POST|PATCH|DELETE)$/.test(r.method));
}

/** An SBOM referring to `name`'s manifest under `tag` at A, with `body`: that manifest's digest. */
async function attachSbomAtA(name: string, tag: string, body: string): Promise<string> {
  return (await attachSbomWithArtifact(name, tag, body)).subject;
}

/** As attachSbomAtA, with the SBOM itself (to refer to it in turn). */
async function attachSbomWithArtifact(name: string, tag: string, body: string) {
  const head = (await clientA.headManifest(`arbor-demo/${name}`, tag))!;
  const artifact = await attachArtifact(clientA, `arbor-demo/${name}`, {
    artifactType: 'application/spdx+json',
    subject: { mediaType: head.mediaType, digest: head.digest, size: head.size },
    blobs: [{ mediaType: 'application/spdx+json', bytes: Buffer.from(body) }],
  });
  return { subject: head.digest, artifact };
}

/** The tree at the next patch level with `file` changed (a rebuilt subtree), applied to A. */
async function applyNextPatch(patch: number, file: string, line: string): Promise<void> {
  await tree.edit('images.yaml', `patch: ${patch}`, `patch: ${patch + 1}`);
  await tree.append(file, line);
  const applied = await arbor(['apply', '--auto-approve']);
  expect(applied.code, applied.stderr).toBe(0);
}

async function setTarget(yaml: string): Promise<void> {
  const text = await readFile(tree.file, 'utf8');
  const start = text.indexOf('\npromote:\n');
  await writeFile(tree.file, `${start >= 0 ? text.slice(0, start) : text}\n${yaml}`);
}

const TARGET = (extra = '') => `promote:
  - name: site
    registry: { url: "${proxy.host}", namespace: site, insecure: true }
    tags: ['^\\d+\\.\\d+-p\\d+$', '^\\d+\\.\\d+$']
    immutable_tags: ['^\\d+\\.\\d+-p\\d+$']
${extra}`;

beforeAll(async () => {
  requireEngine();
  const ca = createCa();
  tokens = await startTokenServer({
    signing: issueCertificate(ca, 'token-signer'),
    users: { [USER]: { password: PASSWORD, rights: everything } },
    expiresIn: 60,
  });
  [a, b] = await Promise.all([
    startRegistry(),
    startRegistry({ extraConfig: tokens.registryAuthConfig(ca) }),
  ]);
  proxy = await startFaultProxy(b.port);
  tree = await copyDefaultTree(a.host);
  dockerConfig = await dockerConfigFor(proxy.host, USER, PASSWORD);
  clientA = createRegistryClient({ registry: a.host, insecure: true });
  clientB = createRegistryClient({
    registry: proxy.host,
    insecure: true,
    authenticator: createAuthenticator({
      credentials: { [proxy.host]: { username: USER, password: PASSWORD } },
    }),
  });
  const applied = await arbor(['apply', '--auto-approve']);
  expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
  expect(applied.stdout).toMatch(/Release 2025\.1-p5 recorded: /);
});

afterAll(async () => {
  await clientA?.close();
  await clientB?.close();
  await proxy?.stop();
  await tokens?.close();
  for (const r of [a, b]) if (r) await destroyRegistry(r);
  if (a) removeLocalImages(a.host);
  await tree?.remove();
  if (dockerConfig) await rm(dockerConfig, { recursive: true, force: true });
});

describe('arbor promote', () => {
  it('a failing gate promotes nothing and says why', async () => {
    await setTarget(TARGET('    gate: { command: "echo not green yet >&2; exit 3" }\n'));
    const mark = (await b.log()).length;
    const planned = await arbor(['promote', 'plan']);
    expect(planned.code).toBe(1);
    expect(planned.stdout).toContain('gate: command exited with 3: not green yet');
    const applied = await arbor(['promote', 'apply', '--auto-approve']);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain('Promotion refused: nothing was copied or tagged.');
    expect(requestsSince(await b.log(), mark, /"(PUT|POST|PATCH|DELETE) /)).toEqual([]);
  });

  it('copies exactly the blobs B lacks, digests identical; the next promotion only HEADs', async () => {
    await setTarget(
      TARGET(
        '    gate: { command: "test \\"$ARBOR_RELEASE\\" = 2025.1-p5 && grep -q keystone \\"$ARBOR_RELEASE_FILE\\"" }\n',
      ),
    );
    const mark = (await b.log()).length;
    const applied = await arbor(['promote', 'apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(await digestsAtB('2025.1-p5')).toEqual(await digestsAtA('2025.1-p5'));
    expect(await digestsAtB('2025.1')).toEqual(await digestsAtA('2025.1'));
    // Bytes stored at B = the distinct blobs of the release (B had none), each sent once.
    const blobs = await uniqueBlobsAtA('2025.1-p5');
    // The images' blobs (the release record's own two blobs go to site/arbor-releases).
    const uploads = requestsSince(
      await b.log(),
      mark,
      /"PUT \/v2\/site\/[^/]+\/blobs\/uploads\/[^"]*digest=/,
    ).filter((line) => !line.includes('/site/arbor-releases/'));
    const sent = uploads.map((line) => decodeURIComponent(/digest=([^ "&]+)/.exec(line)![1]!));
    expect(new Set(sent).size).toBe(sent.length);
    expect(new Set(sent)).toEqual(new Set(blobs.keys()));
    expect(applied.stdout).toContain(`site: ${blobs.size} blob(s) sent (`);
    // The release record is at B too: arbor releases shows it promoted.
    const listing = (await a.log()).length;
    const releases = await arbor(['releases', '--format', 'json']);
    const listed = JSON.parse(releases.stdout).releases;
    expect(listed[0]).toMatchObject({
      release: '2025.1-p5',
      promoted: ['site'],
      otherRecordAt: [],
    });
    // At A, each record's manifest read once, and the record itself only for the release B holds.
    const reads = requestsSince(await a.log(), listing, /"GET \/v2\/arbor-demo\/arbor-releases\//);
    expect(reads.filter((line) => line.includes('/manifests/'))).toHaveLength(listed.length);
    expect(reads.filter((line) => line.includes('/blobs/'))).toHaveLength(1);

    const again = (await b.log()).length;
    const noop = await arbor(['promote', 'apply', '--auto-approve']);
    expect(noop.code).toBe(0);
    expect(noop.stdout).toContain('No changes');
    const requests = requestsSince(await b.log(), again, /"[A-Z]+ \/v2\/\S+ HTTP/);
    // One HEAD per published tag (2 per image) and one for the release record, plus the 401s that
    // ask for a token per repository.
    expect(requests.every((line) => /"HEAD /.test(line))).toBe(true);
    expect(requests.filter((line) => !/" 401 /.test(line))).toHaveLength(IMAGES.length * 2 + 1);
    // Each tag HEAD asked "still the release's digest?" (If-None-Match): B confirmed every one
    // with 304, without reading the manifest.
    expect(requests.filter((line) => /\/manifests\/2025\.1(-p5)? HTTP\/1\.1" 304 /.test(line))).toHaveLength(
      IMAGES.length * 2,
    );
  });

  it('an immutable tag is never moved: a new build under the same patch tag is refused', async () => {
    await tree.append('lists/nova.txt', '# rebuilt under the same patch level\n');
    const applied = await arbor(['apply', '--auto-approve']);
    expect(applied.code, applied.stderr).toBe(0);
    const before = await digestsAtB('2025.1-p5');
    const mark = (await b.log()).length;
    const refused = await arbor(['promote', 'apply', '--auto-approve']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/image nova-base: tag 2025\.1-p5 is immutable at site/);
    expect(requestsSince(await b.log(), mark, /"(PUT|POST|PATCH|DELETE) /)).toEqual([]);
    expect(await digestsAtB('2025.1-p5')).toEqual(before);
    // The rebuild recorded 2025.1-p5 again at A, with other images: B holds the earlier record
    // under that name, and arbor releases says so instead of calling this one promoted.
    const releases = JSON.parse((await arbor(['releases', '--format', 'json'])).stdout);
    expect(releases.releases.find((r: { release: string }) => r.release === '2025.1-p5')).toMatchObject({
      promoted: [],
      otherRecordAt: ['site'],
    });
  });

  it('killed in each phase (arbor with kill -9, then registry B): a rerun converges; no reader sees two releases mixed outside the flip', async () => {
    // The next patch level with a rebuilt subtree: a new release whose moving tag is 2025.1.
    await setTarget(TARGET());
    await applyNextPatch(5, 'lists/glance.txt', '# release 6\n');
    const old = await digestsAtB('2025.1');
    const next = await digestsAtA('2025.1');
    expect(old).not.toEqual(next);
    // A reader of every image's 2025.1 at B, as fast as it can, through every kill and the rerun.
    const snapshots: Array<{ at: number; end: number; digests: Record<string, string | null> }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const at = Date.now();
        const digests = await digestsAtB('2025.1').catch(() => null);
        if (digests) snapshots.push({ at, end: Date.now(), digests });
        else await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const phases: Array<[string, RegExp]> = [
      ['blobs', /^PATCH|^PUT .*\/blobs\/uploads\//],
      ['manifests', /^PUT .*\/manifests\/sha256:/],
      ['flip', /^PUT .*\/manifests\/2025\.1/],
    ];
    for (const [phase, pattern] of phases) {
      const seen = proxy.requests.length;
      const child = execa(process.execPath, [BIN, 'promote', 'apply', '--auto-approve', '-f', tree.file], {
        cwd: tree.dir,
        env: { NO_COLOR: '1', CI: '1', DOCKER_CONFIG: dockerConfig },
        reject: false,
      });
      // kill -9 the moment the phase has begun at B.
      while (
        !proxy.requests.slice(seen).some((r) => pattern.test(`${r.method} ${r.url}`)) &&
        child.exitCode === null
      )
        await new Promise((r) => setTimeout(r, 2));
      child.kill('SIGKILL');
      await child;
      expect(child.exitCode === null || child.signalCode === 'SIGKILL' || child.exitCode === 0, phase).toBe(
        true,
      );
    }
    // Registry B killed in the middle of a promotion: arbor stops (quickly: a 2 s outage budget).
    const seen = proxy.requests.length;
    const child = execa(process.execPath, [BIN, 'promote', 'apply', '--auto-approve', '-f', tree.file], {
      cwd: tree.dir,
      env: { NO_COLOR: '1', CI: '1', DOCKER_CONFIG: dockerConfig, ARBOR_REGISTRY_OUTAGE_SECONDS: '2' },
      reject: false,
    });
    while (!proxy.requests.slice(seen).some((r) => /^PUT/.test(r.method)) && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 2));
    execFileSync('kill', ['-9', String((await findRegistryPid(b.port))!)]);
    const stopped = await child;
    await b.restart();
    // What the crash may have left: a blob file created but never written (distribution's
    // filesystem driver writes in place), which the registry then takes as stored and cannot read.
    // arbor refuses to tag onto such a manifest and says to remove the file (tested below); that
    // step is the operator's, done here before the rerun. An empty link file arbor repairs itself.
    await removeEmptyBlobFiles(b.storageDir);

    // The rerun; the poller keeps reading until one read began after it, so the new release is seen whole too.
    const rerun = await arbor(['promote', 'apply', '--auto-approve']);
    const rerunEnded = Date.now();
    for (let waited = 0; waited < 30_000 && !snapshots.some((s) => s.at > rerunEnded); waited += 50)
      await new Promise((r) => setTimeout(r, 50));
    polling = false;
    await poller;
    expect(stopped.exitCode).not.toBe(0);
    expect(rerun.code, `${rerun.stdout}\n${rerun.stderr}`).toBe(0);
    expect(await digestsAtB('2025.1')).toEqual(next);
    const journal = await readJournal(journalDir(tree.dir, 'site'), 'site', b.host);
    const last = journal.entries.at(-1)!;
    const flipStart = Date.parse(last.startedAt);
    const flipEnd = Date.parse(last.completedAt!);
    // Outside the flip window every snapshot is one whole release: the old one (as the kills left
    // it, never partly moved since tags are flipped only at the end) or the new one.
    const whole = (d: Record<string, string | null>) =>
      JSON.stringify(d) === JSON.stringify(old) || JSON.stringify(d) === JSON.stringify(next);
    const outside = snapshots.filter((s) => s.end < flipStart || s.at > flipEnd);
    expect(outside.some((s) => s.end < flipStart)).toBe(true);
    expect(outside.some((s) => s.at > flipEnd)).toBe(true);
    for (const s of outside) expect(whole(s.digests), JSON.stringify(s)).toBe(true);
  });

  it('rollback puts the previous digests back, except a tag moved since by someone else', async () => {
    const before = await digestsAtB('2025.1');
    const journal = await readJournal(journalDir(tree.dir, 'site'), 'site', b.host);
    const moved = journal.entries.at(-1)!.tags;
    // A hotfix after the promotion: one tag moved onto a new image by hand. A rollback must not
    // overwrite it. Another tag is already back on its digest from before (put back by hand, or
    // by a rollback that stopped part-way): said so, not taken for a later change.
    const [hotfix, back] = moved.filter((t) => t.previous !== null);
    const fixed = await pushVersion(clientB, hotfix!.repository, [hotfix!.tag], day(3));
    await clientB.tagManifest(back!.repository, back!.previous!, back!.tag);
    const rolled = await arbor(['promote', 'rollback', '--to', 'site', '--auto-approve']);
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stdout).toContain(
      `Left in place (moved since that promotion; a rollback does not undo a later change): ${hotfix!.repository}:${hotfix!.tag}`,
    );
    expect(rolled.stdout).toContain(
      `Already back on their digests from before that promotion: ${back!.repository}:${back!.tag}`,
    );
    expect((await clientB.headManifest(hotfix!.repository, hotfix!.tag))?.digest).toBe(fixed);
    // The target no longer holds that release: its record there goes, and `arbor releases` agrees.
    const release = journal.entries.at(-1)!.release;
    expect(rolled.stdout).toContain(`The record of release ${release} at site is removed`);
    expect(await clientB.headManifest('site/arbor-releases', release)).toBeNull();
    for (const t of moved) {
      const now = await clientB.headManifest(t.repository, t.tag);
      if (t.previous && t !== hotfix) expect(now?.digest, `${t.repository}:${t.tag}`).toBe(t.previous);
    }
    expect(await digestsAtB('2025.1')).not.toEqual(before);
  });

  it('a release after a release reads from A only the manifests B lacks (the rest from the digest cache)', async () => {
    // The next patch level with one leaf rebuilt: every other image keeps the digest promoted before.
    await applyNextPatch(6, 'images/keystone/keystone.conf', '\n# release 7\n');
    const mark = (await a.log()).length;
    const promoted = await arbor(['promote', 'apply', '--auto-approve']);
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    expect(await digestsAtB('2025.1-p7')).toEqual(await digestsAtA('2025.1-p7'));
    expect(await digestsAtB('2025.1')).toEqual(await digestsAtA('2025.1'));
    const gets = requestsSince(await a.log(), mark, /"GET \/v2\/\S+\/manifests\//).map(
      (line) => /"GET \/v2\/(\S+)\/manifests\//.exec(line)![1],
    );
    // The record of the release, and the one image B lacked (its index and children).
    expect(new Set(gets)).toEqual(new Set(['arbor-demo/arbor-releases', 'arbor-demo/keystone']));
  });

  it("a named release is promoted whatever the checkout's paths; this checkout's release needs them", async () => {
    const context = join(tree.dir, 'images', 'keystone');
    await rename(context, `${context}.moved`);
    try {
      const named = await arbor(['promote', 'plan', '--release', '2025.1-p7']);
      expect(named.code, `${named.stdout}\n${named.stderr}`).toBe(0);
      expect(named.stdout).toContain('Release 2025.1-p7');
      const own = await arbor(['promote', 'plan']);
      expect(own.code).toBe(1);
      expect(own.stderr).toMatch(/images\.yaml:\d+:\d+: .*images\/keystone/);
    } finally {
      await rename(`${context}.moved`, context);
    }
  });

  it('through a flaky target (429/503, cut answers, cut uploads) one run promotes the release whole', async () => {
    // A new patch level with a rebuilt subtree: blobs, manifests and tags all go through the faults.
    await applyNextPatch(7, 'lists/nova.txt', '# release 8\n');
    const injected = { ...proxy.injected };
    proxy.chaos({
      seed: 11,
      failRate: 0.15,
      statuses: [429, 503],
      retryAfter: '0',
      cutRate: 0.1,
      cutUploadRate: 0.5,
      // Fewer answers carry a body since the deletion guard lists scopes, not every repository:
      // at 10 % the run could meet no cut at all (it did, in CI).
      cutFirst: { answers: 1, uploads: 1 },
    });
    let promoted: Awaited<ReturnType<typeof arbor>>;
    try {
      promoted = await arbor(['promote', 'apply', '--auto-approve']);
    } finally {
      proxy.chaos(null);
    }
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    expect(proxy.injected.failed - injected.failed).toBeGreaterThan(10);
    const cuts = proxy.injected.cut + proxy.injected.cutUploads - injected.cut - injected.cutUploads;
    expect(cuts).toBeGreaterThan(0);
    expect(await digestsAtB('2025.1-p8')).toEqual(await digestsAtA('2025.1-p8'));
    expect(await digestsAtB('2025.1')).toEqual(await digestsAtA('2025.1'));
    // The next promotion has nothing left to do.
    const again = await arbor(['promote', 'apply', '--auto-approve']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes');
  });

  it('a manifest the target stored damaged (an empty file a crash left) stops the promotion before any tag moves', async () => {
    await applyNextPatch(8, 'lists/glance.txt', '# release 9\n');
    const next = await digestsAtA('2025.1');
    const before = await digestsAtB('2025.1');
    // What distribution's filesystem driver leaves when killed between creating a blob's file and
    // writing it: the registry then takes the content as stored, and cannot read it.
    const hex = next['glance-api']!.slice('sha256:'.length);
    const file = join(b.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, '');
    const refused = await arbor(['promote', 'apply', '--auto-approve']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `site/glance-api@${next['glance-api']}: the registry accepted this manifest but cannot read it back \\(500\\): its stored copy is damaged`,
      ),
    );
    expect(await digestsAtB('2025.1')).toEqual(before);
    // The operator removes the file; the next run converges.
    await rm(file);
    const rerun = await arbor(['promote', 'apply', '--auto-approve']);
    expect(rerun.code, `${rerun.stdout}\n${rerun.stderr}`).toBe(0);
    expect(await digestsAtB('2025.1')).toEqual(next);
  });

  it('a manifest whose link a crash left empty at the target is written again: the promotion repairs it', async () => {
    await applyNextPatch(9, 'lists/glance.txt', '# release 10\n');
    const next = await digestsAtA('2025.1');
    const digest = next['glance-api']!;
    // glance-api of the new release at B by digest (an earlier promotion cut short), then its
    // revision link emptied, as a registry killed while writing it leaves it: B answers 500.
    const source = new SourceManifests(clientA);
    await copyImageTo(
      clientB,
      'site/glance-api',
      await source.image('arbor-demo/glance-api', digest),
      new BlobLedger(),
      emptyTotals(),
    );
    const link = join(
      b.storageDir,
      'docker/registry/v2/repositories/site/glance-api/_manifests/revisions/sha256',
      digest.slice('sha256:'.length),
      'link',
    );
    await writeFile(link, '');
    await expect(clientB.headManifest('site/glance-api', digest)).rejects.toMatchObject({ status: 500 });
    const promoted = await arbor(['promote', 'apply', '--auto-approve']);
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    expect(promoted.stdout).toContain(
      'unreadable at site (it answered an error for the manifest): written again',
    );
    expect(await digestsAtB('2025.1')).toEqual(next);
  });

  it('a tag or layer whose link a crash left empty at the target is written again (rollback leaves the tag); an immutable tag is refused', async () => {
    await applyNextPatch(10, 'lists/glance.txt', '# release 11\n');
    const before = await digestsAtB('2025.1');
    const next = await digestsAtA('2025.1');
    // glance-base's 2025.1 at B with its current link emptied, as registry B killed in the middle
    // of that tag's PUT leaves it: B answers 500 for the tag from then on.
    const tagLink = (name: string, tag: string) =>
      join(b.storageDir, `docker/registry/v2/repositories/site/${name}/_manifests/tags/${tag}/current/link`);
    await writeFile(tagLink('glance-base', '2025.1'), '');
    await expect(clientB.headManifest('site/glance-base', '2025.1')).rejects.toMatchObject({ status: 500 });
    // And the repository link of a layer B holds for glance-api (its base layer, under the release
    // to copy): B answers 500 for that blob until it is sent or mounted again.
    let manifest = await clientA.getManifest('arbor-demo/glance-api', next['glance-api']!);
    if (isIndex(manifest.json))
      manifest = await clientA.getManifest('arbor-demo/glance-api', manifest.json.manifests[0]!.digest);
    const layer = (manifest.json as { layers: Array<{ digest: string }> }).layers[0]!.digest;
    const layerLink = join(
      b.storageDir,
      'docker/registry/v2/repositories/site/glance-api/_layers/sha256',
      layer.slice('sha256:'.length),
      'link',
    );
    expect((await stat(layerLink)).size).toBeGreaterThan(0);
    await writeFile(layerLink, '');
    const promoted = await arbor(['promote', 'apply', '--auto-approve']);
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    expect(promoted.stdout).toContain(
      'tag 2025.1 is unreadable here (the registry answered 500 for it): written again',
    );
    expect(await digestsAtB('2025.1')).toEqual(next);
    expect(await clientB.headBlob('site/glance-api', layer)).not.toBeNull();
    // What it named before is unknown: rollback puts the others back and leaves it, saying so.
    const back = await arbor(['promote', 'rollback', '--to', 'site', '--auto-approve']);
    expect(back.code, `${back.stdout}\n${back.stderr}`).toBe(0);
    expect(back.stdout).toContain(
      'Left in place (unreadable at the target before that promotion, so what they named is unknown): site/glance-base:2025.1',
    );
    expect(await digestsAtB('2025.1')).toEqual({ ...before, 'glance-base': next['glance-base'] });

    // An immutable tag left unreadable by no unfinished promotion of this release: arbor cannot
    // tell whether writing it would move it. Refused before anything moves.
    await writeFile(tagLink('glance-api', '2025.1-p11'), '');
    const mark = (await b.log()).length;
    const refused = await arbor(['promote', 'apply', '--auto-approve']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(
      'image glance-api: tag 2025.1-p11 is immutable at site and unreadable there (the registry answered 500 for it',
    );
    expect(requestsSince(await b.log(), mark, /"(PUT|POST|PATCH|DELETE) /)).toEqual([]);
    // The operator removes the damaged tag; the next run converges.
    await rm(dirname(dirname(tagLink('glance-api', '2025.1-p11'))), { recursive: true });
    const rerun = await arbor(['promote', 'apply', '--auto-approve']);
    expect(rerun.code, `${rerun.stdout}\n${rerun.stderr}`).toBe(0);
    expect(await digestsAtB('2025.1')).toEqual(next);
    expect(await digestsAtB('2025.1-p11')).toEqual(await digestsAtA('2025.1-p11'));
  });

  it('two targets on one registry: what the first received is mounted into the second, not sent again', async () => {
    const target = (name: string) => `  - name: ${name}
    registry: { url: "${proxy.host}", namespace: ${name}, insecure: true }
    tags: ['^\\d+\\.\\d+-p\\d+$']
`;
    await setTarget(`promote:\n${target('east')}${target('west')}`);
    const mark = (await b.log()).length;
    const promoted = await arbor(['promote', 'apply', '--auto-approve', '--release', '2025.1-p11']);
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    const blobs = await uniqueBlobsAtA('2025.1-p11');
    const uploadsTo = async (namespace: string) =>
      requestsSince(
        await b.log(),
        mark,
        new RegExp(`"PUT /v2/${namespace}/[^/]+/blobs/uploads/[^"]*digest=`),
      ).filter((line) => !line.includes('/arbor-releases/'));
    // East had none of it: each distinct blob sent once. West: every blob mounted from east.
    expect((await uploadsTo('east')).length).toBe(blobs.size);
    expect(await uploadsTo('west')).toEqual([]);
    expect(promoted.stdout).toContain(`east: ${blobs.size} blob(s) sent (`);
    expect(promoted.stdout).toMatch(/west: 0 blob\(s\) sent \(0 B\), [1-9]\d* mounted/);
    for (const namespace of ['east', 'west'])
      for (const name of IMAGES)
        expect((await clientB.headManifest(`${namespace}/${name}`, '2025.1-p11'))?.digest).toBe(
          (await clientA.headManifest(`arbor-demo/${name}`, '2025.1-p11'))?.digest,
        );
  });

  it('targets on two registries: planned and copied at once (gates one at a time), and no tag moves at either before both have everything', async () => {
    // Near first: promoted one target after the other, near would be tagged before far failed.
    // The gates hold a lock while they run: they pass only when run one at a time.
    const gate = '    gate: { command: "mkdir gate.lock && sleep 0.3 && rmdir gate.lock" }\n';
    await setTarget(`promote:
  - name: near
    registry: { url: "${a.host}", namespace: near, insecure: true }
    tags: ['^\\d+\\.\\d+-p\\d+$']
${gate}  - name: far
    registry: { url: "${proxy.host}", namespace: far, insecure: true }
    tags: ['^\\d+\\.\\d+-p\\d+$']
${gate}`);
    const tagsAt = (client: RegistryClient, namespace: string) =>
      Promise.all(
        IMAGES.map(
          async (name) => (await client.headManifest(`${namespace}/${name}`, '2025.1-p11'))?.digest ?? null,
        ),
      );
    const expected = await Promise.all(
      IMAGES.map(async (name) => (await clientA.headManifest(`arbor-demo/${name}`, '2025.1-p11'))!.digest),
    );
    // Far refuses every upload: its copies fail while near's go through.
    let refusing = true;
    proxy.failNext(10_000, 403, {
      match: (method, url) =>
        refusing && method === 'POST' && url.includes('/far/') && url.includes('/blobs/uploads/'),
    });
    const failed = await arbor(['promote', 'apply', '--auto-approve', '--release', '2025.1-p11']);
    refusing = false;
    expect(failed.code, `${failed.stdout}\n${failed.stderr}`).toBe(1);
    expect(failed.stderr).toContain('near: copying 10 image(s)');
    expect(failed.stderr).not.toContain('flipping');
    expect(await tagsAt(clientA, 'near')).toEqual(IMAGES.map(() => null));
    expect(await tagsAt(clientB, 'far')).toEqual(IMAGES.map(() => null));

    const promoted = await arbor(['promote', 'apply', '--auto-approve', '--release', '2025.1-p11']);
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    expect(await tagsAt(clientA, 'near')).toEqual(expected);
    expect(await tagsAt(clientB, 'far')).toEqual(expected);
    // The report keeps the order of images.yaml.
    const near = promoted.stdout.search(/^near: \d+ blob\(s\) sent/m);
    expect(near).toBeGreaterThanOrEqual(0);
    expect(promoted.stdout.search(/^far: \d+ blob\(s\) sent/m)).toBeGreaterThan(near);
  });

  it("pull budgets: the target's rate-limit headers are shown in the plan; a promotion needing more manifest reads than remain is refused before anything moves", async () => {
    await setTarget(`promote:
  - name: hub
    registry: { url: "${proxy.host}", namespace: budget, insecure: true }
    tags: ['^\\d+\\.\\d+-p\\d+$']
`);
    // An SBOM refers to keystone at A: copying it reads the target's referrers list and its
    // fallback index, two manifest reads a registry such as Docker Hub counts against the budget.
    const keystone = await attachSbomAtA('keystone', '2025.1-p11', '{"spdxVersion":"SPDX-2.3"}');
    const promote = (verb: 'plan' | 'apply') =>
      arbor(['promote', verb, '--release', '2025.1-p11', ...(verb === 'apply' ? ['--auto-approve'] : [])]);

    proxy.addHeaders({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '1;w=21600' });
    const seen = proxy.requests.length;
    const refused = await promote('apply');
    expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stdout).toContain('pull budget: 1 of 100 remaining; this promotion reads 2 manifest(s)');
    expect(refused.stdout).toContain(
      'pull budget: the promotion needs 2 manifest read(s) at hub, 1 remain in its 21600 s window',
    );
    expect(refused.stderr).toContain('Promotion refused: nothing was copied or tagged.');
    expect(writesAtB(seen)).toEqual([]);

    proxy.addHeaders({ 'ratelimit-remaining': '76;w=21600' });
    const planned = await promote('plan');
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toContain('pull budget: 76 of 100 remaining; this promotion reads 2 manifest(s)');
    const json = await arbor(['promote', 'plan', '--release', '2025.1-p11', '--format', 'json']);
    expect(JSON.parse(json.stdout).targets[0].budget).toEqual({
      remaining: 76,
      limit: 100,
      windowSeconds: 21600,
      needed: 2,
    });
    const promoted = await promote('apply');
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    const atB = await clientB.referrers('budget/keystone', keystone);
    expect(atB.manifests.map((d) => d.artifactType)).toEqual(['application/spdx+json']);
  });

  it('tokens refused in the middle of a promotion (expired or revoked) are replaced: the release arrives whole, nothing secret shown, the next promotion only HEADs', async () => {
    await setTarget(TARGET());
    // The next patch level with the glance subtree rebuilt (read from the tree: this test may run alone).
    const patch = await currentPatch();
    await applyNextPatch(patch, 'lists/glance.txt', `# release ${patch + 1}\n`);
    const release = `2025.1-p${patch + 1}`;
    // What registry B answers a request whose token ran out or was revoked: 401 with its own
    // challenge for the repository. The proxy answers so in B's place, before B sees the request.
    const challenge = (repository: string) =>
      `Bearer realm="${tokens.realm}",service="${tokens.service}",scope="repository:${repository}:pull,push",error="invalid_token"`;
    const upload = (method: string, url: string) =>
      method === 'PUT' && url.startsWith('/v2/site/glance-api/blobs/uploads/') && url.includes('digest=');
    const byDigest = (method: string, url: string) =>
      method === 'PUT' && url.startsWith('/v2/site/glance-base/manifests/sha256:');
    const tagPut = (method: string, url: string) =>
      method === 'PUT' && /^\/v2\/site\/glance-api\/manifests\/(?!sha256:)/.test(url);
    // For each refusal, how many tokens the server had issued when it was answered.
    const refusals: Array<{ repository: string; issued: number }> = [];
    let refusing = true;
    const refuse = (count: number, repository: string, kind: (method: string, url: string) => boolean) =>
      proxy.failNext(count, 401, {
        headers: { 'WWW-Authenticate': challenge(repository) },
        match: (method, url) => {
          if (!refusing || !kind(method, url)) return false;
          refusals.push({ repository, issued: tokens.issued.length });
          return true;
        },
      });
    // A blob's upload and a manifest by digest refused once; glance-api's tags refused twice in the
    // flip (one tag twice, its retry too, or each tag once: the flip sends them at once).
    refuse(1, 'site/glance-api', upload);
    refuse(1, 'site/glance-base', byDigest);
    refuse(2, 'site/glance-api', tagPut);
    const issued = tokens.issued.length;
    const seen = proxy.requests.length;
    let promoted: Awaited<ReturnType<typeof arbor>>;
    try {
      promoted = await arbor(['promote', 'apply', '--auto-approve', '--debug']);
    } finally {
      refusing = false;
    }
    expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    expect(await digestsAtB(release)).toEqual(await digestsAtA(release));
    expect(await digestsAtB('2025.1')).toEqual(await digestsAtA('2025.1'));
    const journal = await readJournal(journalDir(tree.dir, 'site'), 'site', b.host);
    expect(journal.entries.at(-1)).toMatchObject({ release, completedAt: expect.any(String) });
    // Every refusal was met, and each of those requests then went through with a new token.
    const requests = proxy.requests.slice(seen);
    const refused = requests.filter((r) => r.injected && r.status === 401);
    expect(refused.filter((r) => upload(r.method, r.url))).toHaveLength(1);
    expect(refused.filter((r) => byDigest(r.method, r.url))).toHaveLength(1);
    expect(refused.filter((r) => tagPut(r.method, r.url))).toHaveLength(2);
    expect(refused).toHaveLength(4);
    for (const kind of [upload, byDigest, tagPut])
      expect(requests.some((r) => !r.injected && r.status === 201 && kind(r.method, r.url))).toBe(true);
    expect(refusals).toHaveLength(4);
    for (const { repository, issued: before } of refusals)
      expect(
        tokens.issued
          .slice(before)
          .some((t) => t.access.some((a) => a.name === repository && a.actions.includes('push'))),
        repository,
      ).toBe(true);
    // The debug output shows the refusals (so it was there to leak from), never a secret.
    expect(promoted.stderr).toMatch(/PUT http:\/\/\S+\/v2\/site\/glance-api\/manifests\/2025\.1\S* → 401/);

    const again = (await b.log()).length;
    const noop = await arbor(['promote', 'apply', '--auto-approve']);
    expect(noop.code, `${noop.stdout}\n${noop.stderr}`).toBe(0);
    expect(noop.stdout).toContain('No changes');
    const atB = requestsSince(await b.log(), again, /"[A-Z]+ \/v2\/\S+ HTTP/);
    expect(atB.every((line) => /"HEAD /.test(line))).toBe(true);
    expect(atB.filter((line) => !/" 401 /.test(line))).toHaveLength(IMAGES.length * 2 + 1);

    const secrets = [
      PASSWORD,
      Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
      ...tokens.issued.slice(issued).map((t) => t.token),
    ];
    expect(secrets.length).toBeGreaterThan(4);
    for (const output of [promoted.stdout, promoted.stderr, noop.stdout, noop.stderr])
      for (const secret of secrets) expect(output.includes(secret)).toBe(false);
  });

  it("the source's pull budget: its rate-limit headers are shown in the plan; a promotion needing more manifest reads there than remain is refused before anything moves", async () => {
    // The tree's registry (the source) behind a proxy that announces a budget, as Docker Hub does
    // for a CI namespace there.
    const sourceProxy = await startFaultProxy(a.port);
    await tree.edit('images.yaml', `url: ${a.host}`, `url: ${sourceProxy.host}`);
    try {
      await setTarget(`promote:
  - name: mirror
    registry: { url: "${proxy.host}", namespace: sourcebudget, insecure: true }
    tags: ['^\\d+\\.\\d+-p\\d+$']
`);
      // This checkout's last release (the tests before may have made more than the first).
      const release = `2025.1-p${await currentPatch()}`;
      // Two images of it get an SBOM at the source: copying one reads its manifest there, a read
      // the copies make after planning, which a budget counts.
      const withSbom = new Map<string, string>();
      for (const name of ['keystone', 'nova-api'])
        withSbom.set(name, await attachSbomAtA(name, release, `{"name":"${name}"}`));
      // Every image of the release is copied to the new namespace: what refers to them is read then.
      let needed = 0;
      for (const name of IMAGES) {
        const head = (await clientA.headManifest(`arbor-demo/${name}`, release))!;
        needed += (await clientA.referrers(`arbor-demo/${name}`, head.digest)).manifests.length;
      }
      expect(needed).toBeGreaterThanOrEqual(2);
      const promote = (...args: string[]) => arbor(['promote', ...args, '--release', release]);

      sourceProxy.addHeaders({
        'ratelimit-limit': '100;w=21600',
        'ratelimit-remaining': `${needed - 1};w=21600`,
      });
      const seen = proxy.requests.length;
      const refused = await promote('apply', '--auto-approve');
      expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(1);
      expect(refused.stdout).toContain(
        `pull budget: the promotion needs ${needed} manifest read(s) at the source ${sourceProxy.host}, ${needed - 1} remain in its 21600 s window`,
      );
      expect(refused.stdout).toContain(
        `source pull budget: ${needed - 1} of 100 remaining; this promotion reads ${needed} more manifest(s)`,
      );
      expect(refused.stderr).toContain('Promotion refused: nothing was copied or tagged.');
      expect(writesAtB(seen)).toEqual([]);
      // Planning read manifests from the source (and the record), never an image's blob.
      expect(
        sourceProxy.requests.filter((r) => /\/blobs\//.test(r.url) && !r.url.includes('/arbor-releases/')),
      ).toEqual([]);

      sourceProxy.addHeaders({ 'ratelimit-remaining': '50;w=21600' });
      const json = await promote('plan', '--format', 'json');
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout).source).toEqual({
        registry: sourceProxy.host,
        budget: { remaining: 50, limit: 100, windowSeconds: 21600, needed },
        problems: [],
      });
      const promoted = await promote('apply', '--auto-approve');
      expect(promoted.code, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
      for (const [name, digest] of withSbom) {
        const atB = await clientB.referrers(`sourcebudget/${name}`, digest);
        expect(atB.manifests.map((d) => d.artifactType)).toContain('application/spdx+json');
      }
      // Promoted: nothing more to read at the source, and no budget problem.
      const again = await promote('plan');
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain(
        'source pull budget: 50 of 100 remaining; this promotion reads 0 more manifest(s)',
      );
    } finally {
      await tree.edit('images.yaml', `url: ${sourceProxy.host}`, `url: ${a.host}`);
      await sourceProxy.stop();
    }
  });

  it('an artifact added at the source after its image was promoted (an SBOM, a new signature) follows it, for a tree that signs', async () => {
    await setTarget(TARGET());
    const release = `2025.1-p${await currentPatch()}`;
    const atSite = (verb: 'plan' | 'apply', last: string) =>
      arbor(['promote', verb, '--to', 'site', '--release', release, last]);
    const all = await atSite('apply', '--auto-approve');
    expect(all.code, all.stderr).toBe(0);
    const { subject: digest, artifact: lateSbom } = await attachSbomWithArtifact(
      'nova-api',
      release,
      '{"spdxVersion":"SPDX-2.3","name":"late"}',
    );
    // A signature of that SBOM follows too, listed at B for the SBOM (referrers of referrers).
    const sbomSignature = await attachArtifact(clientA, 'arbor-demo/nova-api', {
      artifactType: 'application/vnd.example.signature',
      subject: lateSbom.descriptor,
      blobs: [{ mediaType: 'application/vnd.example.signature', bytes: Buffer.from('signed') }],
    });
    // A tree without `signing:` attaches nothing after the fact and is not asked: HEADs only.
    const unsigned = await atSite('plan', '--detailed-exitcode');
    expect(unsigned.code, unsigned.stdout).toBe(0);
    const text = await readFile(tree.file, 'utf8');
    await writeFile(
      tree.file,
      text.replace(/^tags:/m, 'signing:\n  sigstore: { key: keys/cosign.key }\ntags:'),
    );
    try {
      const planned = await atSite('plan', '--detailed-exitcode');
      expect(planned.code, planned.stdout + planned.stderr).toBe(2);
      // At least the new SBOM (earlier tests attached others at A that an unsigned tree left there).
      const refer = /\+ refer nova-api\s+(\d+) artifact\(s\)/.exec(planned.stdout);
      expect(refer, planned.stdout).not.toBeNull();
      const missing = Number(refer![1]);
      expect(missing).toBeGreaterThanOrEqual(1);
      const before = (await clientB.referrers('site/nova-api', digest)).manifests.length;
      const applied = await atSite('apply', '--auto-approve');
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toMatch(/[1-9]\d* referrer\(s\)/);
      const listed = await clientB.referrers('site/nova-api', digest);
      // All but the SBOM's signature are listed for the image; that one is listed for the SBOM.
      expect(missing).toBeGreaterThanOrEqual(2);
      expect(listed.manifests).toHaveLength(before + missing - 1);
      expect(listed.manifests.map((m) => m.artifactType)).toContain('application/spdx+json');
      expect(
        (await clientB.referrers('site/nova-api', lateSbom.digest)).manifests.map((m) => m.digest),
      ).toEqual([sbomSignature.digest]);
      const again = await atSite('plan', '--detailed-exitcode');
      expect(again.code, again.stdout).toBe(0);
    } finally {
      await writeFile(tree.file, text);
    }
  });

  it("the target's retention: the plan shows what it deletes after the flip, apply deletes exactly that, nothing else", async () => {
    // Old builds at B in a repository the target's rule selects, made long before the grace period.
    const old: string[] = [];
    for (const n of [1, 2, 3]) old.push(await pushVersion(clientB, 'site/legacy', [`v${n}`], day(n)));
    // And an old image someone pushed over cron's release tag: the burst moves the tag back, which
    // leaves that manifest untagged (a tag listing after the burst no longer sees it).
    const stray = await pushVersion(clientB, 'site/cron', ['2025.1'], day(5));
    await setTarget(
      TARGET(`    retention:
      - extra_repositories: ['site/legacy']
        keep_last: 1
      - repositories: ['cron']
        keep_last: 1
        delete_untagged: true
`),
    );
    try {
      const planned = await arbor([
        'promote',
        'plan',
        '--to',
        'site',
        '--format',
        'json',
        '--detailed-exitcode',
      ]);
      expect(planned.code, planned.stderr).toBe(2);
      const plan = JSON.parse(planned.stdout) as {
        targets: { retention?: { repository: string; digest: string }[]; summary: { delete?: number } }[];
      };
      const shown = plan.targets[0]!.retention ?? [];
      expect(shown.map((d) => `${d.repository}@${d.digest}`).sort()).toEqual(
        [
          ...[old[0], old[1]].map((d) => `${proxy.host}/site/legacy@${d}`),
          `${proxy.host}/site/cron@${stray}`,
        ].sort(),
      );
      expect(plan.targets[0]!.summary.delete).toBe(3);
      const text = await arbor(['promote', 'plan', '--to', 'site']);
      expect(text.stdout).toMatch(/- delete \S+\/site\/legacy@sha256:\w+ \(v1\)/);
      expect(text.stdout).toContain('3 to delete by its retention');
      expect(text.stdout).toMatch(/- delete \S+\/site\/cron@sha256:\w+ \(untagged\)/);
      const applied = await arbor(['promote', 'apply', '--to', 'site', '--auto-approve']);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toContain('retention deleted 3');
      expect(await clientB.headManifest('site/cron', stray)).toBeNull();
      expect(await clientB.headManifest('site/legacy', old[0]!)).toBeNull();
      expect(await clientB.headManifest('site/legacy', old[1]!)).toBeNull();
      expect((await clientB.headManifest('site/legacy', 'v3'))?.digest).toBe(old[2]);
      // Every promoted tag is still where the release put it.
      expect(await digestsAtB('2025.1')).toEqual(await digestsAtA('2025.1'));
      const again = await arbor(['promote', 'plan', '--to', 'site', '--detailed-exitcode']);
      expect(again.code, again.stdout).toBe(0);
    } finally {
      await setTarget(TARGET());
    }
  });

  it('arbor releases with a target down: its column says "?" and one warning names it; the listing is not held up for the outage budget', async () => {
    // A port nothing listens on: connections are refused, as by a site that is down. And one
    // that takes connections and never answers, as a stopped or wedged registry.
    const closed = await freePort();
    const silent = createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const hung = (silent.address() as AddressInfo).port;
    await setTarget(
      `${TARGET()}  - name: gone
    registry: { url: "127.0.0.1:${closed}", namespace: site, insecure: true }
    tags: ['^\\d+\\.\\d+$']
  - name: hung
    registry: { url: "127.0.0.1:${hung}", namespace: site, insecure: true }
    tags: ['^\\d+\\.\\d+$']
`,
    );
    try {
      const json = await arbor(['releases', '--format', 'json']);
      expect(json.code, json.stderr).toBe(0);
      const newest = JSON.parse(json.stdout).releases[0];
      expect(newest.promoted).toEqual(['site']);
      expect(newest.unknownAt).toEqual(['gone', 'hung']);
      expect(json.stderr.match(/warning: target gone could not be read/g)).toHaveLength(1);
      expect(json.stderr.match(/warning: target hung could not be read/g)).toHaveLength(1);
      const text = await arbor(['releases']);
      expect(text.stdout).toContain('gone (?), hung (?)');
    } finally {
      silent.close();
      await setTarget(TARGET());
    }
  });
});

/** The pid of the registry listening on `port` (to kill -9 it, as a crash would). */
async function removeEmptyBlobFiles(storageDir: string): Promise<void> {
  const blobs = join(storageDir, 'docker/registry/v2/blobs');
  for (const entry of await readdir(blobs, { recursive: true })) {
    const file = join(blobs, entry);
    if (entry.endsWith('/data') && (await stat(file)).size === 0) await rm(file);
  }
}

async function findRegistryPid(port: number): Promise<number | undefined> {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  const configs = out.split('\n').filter((l) => l.includes('docker-registry serve'));
  for (const line of configs) {
    const [pid, , , config] = line.trim().split(/\s+/);
    if (config && (await readFile(config, 'utf8').catch(() => '')).includes(`127.0.0.1:${port}`))
      return Number(pid);
  }
  return undefined;
}
