// `arbor retention plan|apply` and `arbor usage` end to end: the built CLI as a child process
// against a real registry (run `npx tsc -p tsconfig.build.json` first).
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor, BIN } from '../support/cli.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { skopeoTags } from './registry-fixtures.js';
import { day, pushVersion, writeConfig } from './retention-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
});

describe('arbor retention', () => {
  it('plans as JSON, refuses apply without a terminal or --auto-approve, applies with it', async () => {
    const digests: string[] = [];
    for (let v = 1; v <= 6; v++) digests.push(await pushVersion(client, 'ns/app', [`v${v}`], day(v)));
    await client.tagManifest('ns/app', digests[0]!, 'release'); // a tag images.yaml wants
    const tree = await writeConfig(registry.host, '  - repositories: ["app"]\n    keep_last: 2');
    try {
      const plan = arbor(['retention', 'plan', '-f', tree.file, '--format', 'json']);
      expect(plan).toMatchObject({ code: 0, stderr: '' });
      const json = JSON.parse(plan.stdout);
      expect(json.deletions.map((d: { tags: string[] }) => d.tags)).toEqual([['v2'], ['v3'], ['v4']]);
      expect(json.summary).toMatchObject({ delete: 3, keep: 3 });

      const refused = arbor(['retention', 'apply', '-f', tree.file], { input: '' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('stdin is not a terminal to ask: pass --auto-approve');
      expect(skopeoTags(`${registry.host}/ns/app`)).toHaveLength(7);

      const applied = arbor(['retention', 'apply', '-f', tree.file, '--auto-approve']);
      expect(applied.code).toBe(0);
      expect(applied.stdout).toContain(
        'Retention: 3 deleted, 0 already gone, 0 aborted (changed since the plan), 0 skipped.',
      );
      expect(applied.stdout).toContain('docker-registry garbage-collect');
      expect(skopeoTags(`${registry.host}/ns/app`).sort()).toEqual(['release', 'v1', 'v5', 'v6']);
    } finally {
      await tree.remove();
    }
  });

  it('deletions the registry refuses (503) are said to be registry errors, not changes, and exit 1', async () => {
    const digests: string[] = [];
    for (let v = 1; v <= 4; v++) digests.push(await pushVersion(client, 'ns/flaky', [`v${v}`], day(v)));
    const front = await startFaultProxy(registry.port);
    const tree = await writeConfig(front.host, '  - extra_repositories: ["ns/flaky"]\n    keep_last: 2');
    try {
      front.failNext(1000, 503, {
        retryAfter: '0',
        match: (method, url) => method === 'DELETE' && url.includes('/v2/ns/flaky/manifests/sha256:'),
      });
      const applied = await execa(
        process.execPath,
        [BIN, 'retention', 'apply', '-f', tree.file, '--auto-approve', '--grace-period', '0s'],
        { env: { NO_COLOR: '1' }, reject: false },
      );
      expect(applied.exitCode, applied.stdout).toBe(1);
      expect(applied.stdout).toContain(
        'Retention: 0 deleted, 0 already gone, 2 aborted (0 changed since the plan, 2 by registry errors: run it again), 0 skipped.',
      );
      expect(skopeoTags(`${registry.host}/ns/flaky`).sort()).toEqual(['v1', 'v2', 'v3', 'v4']);
    } finally {
      await front.stop();
      await tree.remove();
    }
  });

  it('refuses a rule that would delete every tag, with file:line:col, exit 1, nothing deleted', async () => {
    await pushVersion(client, 'ns/multi', ['a'], day(1));
    await pushVersion(client, 'ns/multi', ['b'], day(2));
    const tree = await writeConfig(
      registry.host,
      '  - repositories: ["multi"]\n    keep_tags: ["^release-"]',
    );
    try {
      const result = arbor(['retention', 'apply', '-f', tree.file, '--auto-approve']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /images\.yaml:\d+:5: error: retention rule 0 would delete every tag of ns\/multi \(2 tags\): refused; set allow_empty: true if that is intended/,
      );
      expect(skopeoTags(`${registry.host}/ns/multi`).sort()).toEqual(['a', 'b']);
    } finally {
      await tree.remove();
    }
  });

  it('warns about a rule selecting nothing, and rejects bad rules at load time with their location', async () => {
    const tree = await writeConfig(
      registry.host,
      '  - repositories: ["no-such-image"]\n    keep_last: 1\n  - repositories: ["app"]\n    keep_tags: ["(unclosed"]\n    keep_newer_than: 3 weeks\n    keep_last: -1',
    );
    try {
      const result = arbor(['retention', 'plan', '-f', tree.file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /images\.yaml:\d+:\d+: error: retention\[1\]\.keep_last must be at least 0, not -1/,
      );
    } finally {
      await tree.remove();
    }
    const selectsNothing = await writeConfig(
      registry.host,
      '  - repositories: ["no-such-image"]\n    keep_last: 1',
    );
    try {
      const result = arbor(['retention', 'plan', '-f', selectsNothing.file]);
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(
        /images\.yaml:\d+:5: warning: retention rule 0 selects no repository: it deletes nothing/,
      );
    } finally {
      await selectsNothing.remove();
    }
  });
});

describe('arbor usage', () => {
  it('reports apparent and real sizes per repository and in total', async () => {
    const digest = await pushVersion(client, 'ns/usage', ['u1', 'u1-alias', 'u1-again'], day(1));
    const manifest = await client.getManifest('ns/usage', digest);
    const tree = await writeConfig(registry.host, '  - repositories: ["app"]\n    keep_last: 2');
    try {
      const result = arbor(['usage', '-f', tree.file, 'ns/usage', '--format', 'json']);
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout);
      const json = manifest.json as { config: { size: number }; layers: Array<{ size: number }> };
      const one = manifest.bytes.length + json.config.size + json.layers[0]!.size;
      expect(report.repositories).toEqual([
        { repository: 'ns/usage', tags: 3, manifests: 1, apparentBytes: 3 * one, realBytes: one },
      ]);
      expect(report.total).toEqual({ tags: 3, apparentBytes: 3 * one, realBytes: one });
      const text = arbor(['usage', '-f', tree.file, 'ns/usage']);
      expect(text.stdout).toContain('Apparent: the sum over tags');
      // A repository named that the registry does not know: one error, not an empty row.
      const unknown = arbor(['usage', '-f', tree.file, 'ns/usage', 'ns/nosuch']);
      expect(unknown.code).toBe(1);
      expect(unknown.stdout).toBe('');
      expect(unknown.stderr.trim()).toBe(`error: ${registry.host}/ns/nosuch: no such repository`);
    } finally {
      await tree.remove();
    }
  });
});
