// Retention racing tag-only applies, against a real registry: no tag an apply reported as written
// is lost. 50 rounds in process (applyRetention against the apply's tag step, writeTagsGuarded,
// adding new tags and moving a kept tag onto an old digest, as a rollback does), then rounds of
// the real CLIs: `arbor apply` of an older tree (a rollback: every image exists, so it only moves
// and adds tags by manifest copy) while `arbor retention apply` of the current tree deletes the
// old digests.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTree } from '../../src/plan/desired.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import {
  isMarkerTag,
  lowerMarker,
  putTagsGuarded,
  raiseMarker,
  scopeMarkerRepository,
  type TagPut,
  writeTagsGuarded,
} from '../../src/registry/deletion-guard.js';
import { applyRetention } from '../../src/retention/apply.js';
import { planRetentionDetailed } from '../../src/retention/index.js';
import { arbor, BIN } from '../support/cli.js';
import { requireEngine } from '../support/engine.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { removeLocalImages } from '../support/tree.js';
import { day, pushVersion, writeConfig } from './retention-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
});

afterAll(async () => {
  await client?.close();
  if (registry) {
    removeLocalImages(registry.host);
    await destroyRegistry(registry);
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The markers in the scope marker repository beside `repository` (none: it may not exist). */
async function scopeMarkers(repository: string): Promise<string[]> {
  const at = scopeMarkerRepository(repository);
  return (await client.listTags(at).catch(() => [] as string[])).filter(isMarkerTag);
}

/** What a retention run raises before it looks at `repository`: the scope's marker, then its own. */
async function raiseMarkers(repository: string) {
  const scope = await raiseMarker(client, scopeMarkerRepository(repository));
  const own = await raiseMarker(client, repository);
  return {
    own,
    lower: async () => {
      await lowerMarker(client, own);
      await lowerMarker(client, scope);
    },
  };
}

interface Write {
  tag: string;
  digest: string;
  rewritten: boolean;
}

describe('the deletion guard, step by step', () => {
  it('a tag deleted under a marker after it was written is put back once the marker is down, with the tag it stands on', async () => {
    const repository = 'guard/app';
    const digest = await pushVersion(client, repository, ['old'], day(1));
    const markers = await raiseMarkers(repository);
    const guarded = writeTagsGuarded(client, repository, digest, ['wanted'], { keep: ['old'] });
    // A retention whose last look came before the write: the DELETE takes the new tag along.
    while (!(await client.headManifest(repository, 'wanted'))) await sleep(10);
    expect(await client.deleteManifest(repository, digest)).toBe('deleted');
    expect(await client.headManifest(repository, 'wanted')).toBeNull();
    await sleep(300);
    await markers.lower();
    const result = await guarded;
    expect(result.rewritten).toEqual(['guard/app:wanted', 'guard/app:old']);
    expect(result.waitedMs).toBeGreaterThan(250);
    expect((await client.headManifest(repository, 'wanted'))?.digest).toBe(digest);
    expect((await client.listTags(repository)).sort()).toEqual(['old', 'wanted']);
  });

  it('without a marker the write returns at once; a plan does not judge a marker', async () => {
    const repository = 'guard/quiet';
    const digest = await pushVersion(client, repository, ['v1'], day(1));
    await pushVersion(client, repository, ['v2'], day(2));
    expect(await writeTagsGuarded(client, repository, digest, ['v1-alias'])).toMatchObject({
      tags: 1,
      rewritten: [],
      waitedMs: 0,
      listings: { scopes: 1, repositories: 0 },
    });
    const marker = await raiseMarker(client, repository);
    const tree = await writeConfig(
      registry.host,
      `  - extra_repositories: ["${repository}"]\n    keep_last: 1`,
    );
    const { config } = await loadTree(tree.file);
    await tree.remove();
    const plan = await planRetentionDetailed(config, [], client, new Date(), { cacheDir: false });
    const judged = [...plan.deletions.map((d) => d.digest), ...plan.kept.map((k) => k.digest)];
    expect(judged).not.toContain(marker.digest);
    expect(plan.deletions.map((d) => d.tags)).toEqual([['v1', 'v1-alias']]);
    await lowerMarker(client, marker);
  });

  it('a burst over many repositories is cleared by one shared listing of their scope, not one listing each', async () => {
    // More repositories than PUTs in flight at once (16): the first ones' writers wait for the rest.
    const writes: TagPut[] = [];
    for (let i = 0; i < 40; i++) {
      const repository = `burst/app${i}`;
      const digest = await pushVersion(client, repository, ['v1'], day(1));
      writes.push({ repository, tag: 'v1-alias', manifest: await client.getManifest(repository, digest) });
    }
    const offset = (await registry.log()).length;
    const result = await putTagsGuarded(client, writes);
    expect(result.listings.repositories).toBe(0);
    // One, sent once every PUT was answered; a second only if the burst outlasted half of SETTLE_MS.
    expect(result.listings.scopes).toBeGreaterThan(0);
    expect(result.listings.scopes).toBeLessThanOrEqual(2);
    // The registry saw the same: listings of burst/arbor-deleting only.
    const listed = [...(await registry.log()).slice(offset).matchAll(/"GET \/v2\/(\S+)\/tags\/list/g)].map(
      (m) => m[1],
    );
    expect(new Set(listed)).toEqual(new Set(['burst/arbor-deleting']));
    expect(listed).toHaveLength(result.listings.scopes);
  });

  it('a scope listing the registry refuses (a token without pull access there) leaves each repository to its own listing', async () => {
    const proxy = await startFaultProxy(registry.port);
    const proxied = createRegistryClient({ registry: proxy.host, insecure: true });
    try {
      const writes: TagPut[] = [];
      for (const name of ['a', 'b', 'c']) {
        const repository = `denied/${name}`;
        const digest = await pushVersion(client, repository, ['v1'], day(1));
        writes.push({ repository, tag: 'v2', manifest: await client.getManifest(repository, digest) });
      }
      proxy.failNext(100, 403, {
        match: (method, url) => method === 'GET' && url.startsWith('/v2/denied/arbor-deleting/tags/list'),
        body: '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
      });
      const result = await putTagsGuarded(proxied, writes);
      expect(result.listings.repositories).toBe(3);
      expect(proxy.requests.some((r) => r.injected && r.url.includes('/arbor-deleting/'))).toBe(true);
      for (const w of writes)
        expect((await client.headManifest(w.repository, 'v2'))?.digest).toBe(w.manifest.digest);
    } finally {
      await proxied.close();
      await proxy.stop();
    }
  });

  it('while a retention is at work in the scope, each repository is listed on its own (and waits only where it deletes)', async () => {
    const quiet = 'busy/quiet';
    const deleting = 'busy/deleting';
    const quietDigest = await pushVersion(client, quiet, ['v1'], day(1));
    const deletingDigest = await pushVersion(client, deleting, ['v1'], day(1));
    const markers = await raiseMarkers(deleting);
    const started = performance.now();
    const guarded = putTagsGuarded(client, [
      { repository: quiet, tag: 'new', manifest: await client.getManifest(quiet, quietDigest) },
      { repository: deleting, tag: 'new', manifest: await client.getManifest(deleting, deletingDigest) },
    ]);
    await sleep(400);
    await markers.lower();
    const result = await guarded;
    expect(result.listings.repositories).toBeGreaterThanOrEqual(2);
    // Only the repository under a marker of its own waited for it to come down.
    expect(result.waitedMs).toBeGreaterThan(250);
    expect(result.waitedMs).toBeLessThan(performance.now() - started + 1);
    expect((await client.headManifest(quiet, 'new'))?.digest).toBe(quietDigest);
    expect((await client.headManifest(deleting, 'new'))?.digest).toBe(deletingDigest);
  });

  it('retention raises the scope marker before its first look and lowers it after every repository marker', async () => {
    const tree = await writeConfig(registry.host, '  - extra_repositories: ["order/*"]\n    keep_last: 1');
    const { config } = await loadTree(tree.file);
    await tree.remove();
    for (const repository of ['order/a', 'order/b'])
      for (let v = 0; v < 3; v++) await pushVersion(client, repository, [`v${v}`], day(v));
    const plan = await planRetentionDetailed(config, [], client, new Date(), { cacheDir: false });
    expect(plan.deletions).toHaveLength(4);
    const offset = (await registry.log()).length;
    const applied = await applyRetention(plan.deletions, client);
    expect(applied.results.map((r) => r.status)).toEqual(['deleted', 'deleted', 'deleted', 'deleted']);
    const requests = [...(await registry.log()).slice(offset).matchAll(/"([A-Z]+) \/v2\/(\S+) HTTP/g)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    const first = (re: RegExp) => requests.findIndex((r) => re.test(r));
    const last = (re: RegExp) => requests.findLastIndex((r) => re.test(r));
    const scopeUp = first(/^PUT order\/arbor-deleting\/manifests\/arbor-deleting-/);
    const scopeDown = last(/^DELETE order\/arbor-deleting\/manifests\/sha256:/);
    expect(scopeUp).toBeGreaterThanOrEqual(0);
    expect(scopeUp).toBeLessThan(first(/^GET order\/[ab]\/tags\/list/));
    expect(scopeUp).toBeLessThan(first(/^PUT order\/[ab]\/manifests\/arbor-deleting-/));
    expect(scopeDown).toBeGreaterThan(last(/^DELETE order\/[ab]\/manifests\//));
    expect(await scopeMarkers('order/a')).toEqual([]);
    // The scope marker repository is never a retention rule's to judge.
    const again = await planRetentionDetailed(config, [], client, new Date(), { cacheDir: false });
    expect(again.deletions).toEqual([]);
    expect(again.histories.map((h) => h.repository).sort()).toEqual(['order/a', 'order/b']);
  });
});

describe('retention racing the tag step of applies (in process)', () => {
  it('50 rounds: every tag the writer reported written is still there, on its digest', async () => {
    const tree = await writeConfig(
      registry.host,
      '  - extra_repositories: ["race/*", "race/*/app"]\n    keep_last: 2',
    );
    const { config } = await loadTree(tree.file);
    await tree.remove();
    let deletedTotal = 0;
    let savedByArrival = 0;
    let rewritten = 0;
    let done = 0;
    let failedClean = 0;
    // Writes the scope listing cleared without a listing of their repository.
    let clearedByScope = 0;
    const lost: string[] = [];
    // How long retention takes to delete here (it varies with the machine's load): the writes are
    // spread over that, learnt from the rounds so far.
    const deleting: number[] = [];
    const span = () =>
      deleting.length === 0 ? 100 : [...deleting].sort((a, b) => a - b)[Math.floor(deleting.length / 2)]!;

    const round = async (n: number) => {
      // Half the rounds share the scope `race` (its marker is mostly up: the writers list their
      // repository), half have a scope of their own (cleared by one scope listing when no
      // retention is at work there).
      const repository = n % 2 ? `race/r${n}` : `race/s${n}/app`;
      const versions = await Promise.all(
        Array.from({ length: 10 }, (_, v) => pushVersion(client, repository, [`b${v}`], day(v))),
      );
      const doomed = versions.slice(0, 8);
      await client.tagManifest(repository, 'b9', 'release');
      const plan = await planRetentionDetailed(
        config,
        [{ repository, tags: ['release'] }],
        client,
        new Date(),
        { repositories: [repository], cacheDir: false },
      );
      expect(plan.deletions.map((d) => d.digest).sort()).toEqual([...doomed].sort());

      // The writer: new tags and a rollback of `release`, at random moments while retention runs.
      const writes: Write[] = [];
      const write = async (tag: string, delay = Math.random() * span()) => {
        await sleep(delay);
        const digest = doomed[Math.floor(Math.random() * doomed.length)]!;
        try {
          const result = await writeTagsGuarded(client, repository, digest, [tag]);
          writes.push({ tag, digest, rewritten: result.rewritten.length > 0 });
          if (result.listings.repositories === 0) clearedByScope++;
        } catch (e) {
          // Its source was deleted before the copy read it: the write failed, and says so.
          expect((e as Error).message).toMatch(/manifest unknown \(404\)/);
          failedClean++;
        }
      };
      const start = performance.now();
      let lastSettled = start;
      const [applied] = await Promise.all([
        applyRetention(plan.deletions, client, {
          onResult: () => {
            lastSettled = performance.now();
          },
        }),
        write(`new-${n}-a`),
        write('release'),
        write(`new-${n}-b`),
        // As retention starts: its scope listing may come before the markers go up.
        write(`new-${n}-c`, 0),
      ]);
      deleting.push(lastSettled - start);
      deletedTotal += applied.results.filter((r) => r.status === 'deleted').length;
      savedByArrival += applied.results.filter(
        (r) => r.status === 'aborted' && /moved onto it|appeared on it|since the plan/.test(r.detail ?? ''),
      ).length;
      for (const w of writes) {
        done++;
        if (w.rewritten) rewritten++;
        const head = await client.headManifest(repository, w.tag);
        if (head?.digest !== w.digest) lost.push(`${repository}:${w.tag}`);
      }
      // The markers are down once retention returns.
      expect((await client.listTags(repository)).filter(isMarkerTag)).toEqual([]);
      // A scope of its own is clear too (`race` may hold other rounds' markers meanwhile).
      if (n % 2 === 0) expect(await scopeMarkers(repository)).toEqual([]);
    };

    const limit = pLimit(10);
    await Promise.all(Array.from({ length: 50 }, (_, n) => limit(() => round(n))));
    expect(lost).toEqual([]);
    expect(await scopeMarkers('race/r1')).toEqual([]);
    // Every write either stands or failed cleanly; the race was real: writes landed on digests
    // retention had planned to delete (it kept them, or deleted them and the writer put them
    // back), and retention deleted the rest.
    expect(done + failedClean).toBe(200);
    expect(clearedByScope).toBeGreaterThan(0);
    expect(done).toBeGreaterThan(30);
    expect(savedByArrival + rewritten).toBeGreaterThan(10);
    expect(deletedTotal).toBeGreaterThan(100);
  }, 120_000);
});

/** A one-image tree whose image content is `version`, tagged `release` and `r-<ROUND>`. */
async function writeTree(dir: string, version: number): Promise<string> {
  await mkdir(join(dir, 'app'));
  await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY version /version\n');
  await writeFile(join(dir, 'app', 'version'), `${version}\n`);
  const file = join(dir, 'images.yaml');
  await writeFile(
    file,
    [
      'version: 1',
      'registry:',
      `  url: "${registry.host}"`,
      '  namespace: cli',
      '  insecure: true',
      'env: [ROUND]',
      'tags: ["release", "r-{{ env.ROUND }}"]',
      'images:',
      '  app:',
      '    from: scratch',
      '    dockerfile: Dockerfile',
      '    context: app',
      'retention:',
      '  - repositories: ["app"]',
      '    keep_last: 1',
      '',
    ].join('\n'),
  );
  return file;
}

function start(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; result: Promise<string> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b) => {
    out += b;
  });
  child.stderr!.on('data', (b) => {
    out += b;
  });
  const result = new Promise<string>((resolve) => child.on('close', (code) => resolve(`${code}\n${out}`)));
  return { child, result };
}

describe('`arbor retention apply` racing `arbor apply` of an older tree (real CLIs)', () => {
  it('rollback applies keep every tag they report, while retention deletes the old digests', async () => {
    requireEngine();
    const dirs = await Promise.all([1, 2, 3].map(() => mkdtemp(join(tmpdir(), 'arbor-race-'))));
    try {
      // Three versions of the image, built and pushed for real; version 3 is the current tree.
      const files: string[] = [];
      const versions: string[] = [];
      for (const [i, dir] of dirs.entries()) {
        const file = await writeTree(dir, i + 1);
        files.push(file);
        const built = arbor(['apply', '--auto-approve', '--no-retention', '-f', file], {
          cwd: dir,
          env: { ROUND: 'setup' },
        });
        expect(built.code, built.stderr).toBe(0);
        versions.push((await client.headManifest('cli/app', 'release'))!.digest);
      }
      const saved = new Map<string, { tag: string; bytes: Buffer; mediaType: string }>();
      for (const tag of await client.listTags('cli/app')) {
        if (!tag.startsWith('fp-')) continue;
        const m = await client.getManifest('cli/app', tag);
        saved.set(m.digest, { tag, bytes: m.bytes, mediaType: m.mediaType });
      }
      expect(new Set(versions).size).toBe(3);
      const current = versions[2]!;

      let interplay = 0;
      // At least 6 rounds, and on until one round was a real race (the timing is random): every
      // round checks the guarantees whatever the interleaving was.
      for (let n = 0; n < 6 || (interplay === 0 && n < 24); n++) {
        // The old versions are back with their fingerprint tags (their blobs were never collected).
        for (const digest of versions) {
          const m = saved.get(digest)!;
          await client.putManifest('cli/app', m.tag, m.bytes, m.mediaType);
        }
        const now = saved.get(current)!;
        await client.putManifest('cli/app', 'release', now.bytes, now.mediaType);
        // A runner without the previous round's cache: the tag hints would (rightly) count this
        // round's history as written since the last look, recent, and keep it.
        await rm(join(dirs[2]!, '.arbor', 'cache', 'registry-tags'), { recursive: true, force: true });
        // Older history, so retention has more to delete than the two rollback targets.
        await Promise.all(
          Array.from({ length: 16 }, (_, i) => pushVersion(client, 'cli/app', [`h${n}-${i}`], day(i))),
        );
        const rollbackTo = n % 2;
        const round = `${n}`;
        const retention = start(
          [
            'retention',
            'apply',
            '--auto-approve',
            '--grace-period',
            '1s',
            '--format',
            'json',
            '-f',
            files[2]!,
          ],
          { ROUND: 'current' },
        );
        await sleep(Math.random() * 600);
        const rollback = start(['apply', '--auto-approve', '--no-retention', '-f', files[rollbackTo]!], {
          ROUND: round,
        });
        const [retentionOut, rollbackOut] = await Promise.all([retention.result, rollback.result]);
        expect(retentionOut.split('\n')[0], retentionOut).toBe('0');
        const target = versions[rollbackTo]!;
        if (rollbackOut.split('\n')[0] === '0') {
          // Reported done: its tags are on its image. Usually a manifest copy onto the old digest;
          // when retention had deleted that digest before the rollback planned, it built it again.
          expect(rollbackOut).toMatch(/Apply: (1 built, 0 tagged|0 built, 1 tagged)/);
          const image = (await client.headManifest('cli/app', saved.get(target)!.tag))?.digest;
          expect(image).toBeDefined();
          for (const tag of ['release', `r-${round}`])
            expect((await client.headManifest('cli/app', tag))?.digest, `${tag} after round ${n}`).toBe(
              image,
            );
          // No JSON when retention had nothing to delete.
          const json = retentionOut.includes('{')
            ? JSON.parse(retentionOut.slice(retentionOut.indexOf('{')))
            : { results: [] };
          const planned = json.results.some(
            (r: { deletion: { digest: string } }) => r.deletion.digest === target,
          );
          if (planned && rollbackOut.includes('1 tagged')) interplay++;
        } else {
          // It failed (its source digest was deleted before it read it): it says so and wrote nothing.
          expect(rollbackOut).toMatch(
            /manifest unknown|failed|disappeared before the release tags were written/,
          );
          expect(await client.headManifest('cli/app', `r-${round}`)).toBeNull();
        }
        expect((await client.listTags('cli/app')).filter(isMarkerTag)).toEqual([]);
        expect(await scopeMarkers('cli/app')).toEqual([]);
      }
      // At least one round where retention found the rollback's tags on a digest it had planned
      // to delete (a race the test is about, not two runs one after the other).
      expect(interplay).toBeGreaterThan(0);
    } finally {
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  }, 300_000);
});
