// What an import owns and what it leaves alone (src/kolla/write.ts), with small plans on a temp
// directory; and the pure pieces around it: unbuildable images, the FROM rewrite, source locks.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { fromTarget } from '../../../src/kolla/images.js';
import { PARENT_FROM_LINE, type ProjectPlan, rewriteFromLine } from '../../../src/kolla/project.js';
import { lockOf } from '../../../src/kolla/sources-lock.js';
import { matchesBaseAndArch, unbuildableFor, withDescendants } from '../../../src/kolla/unbuildable.js';
import { writeProject } from '../../../src/kolla/write.js';

function plan(images: Record<string, string>, extra: Partial<ProjectPlan> = {}): ProjectPlan {
  const values = [{ path: ['templates_dir'], value: 'docker' }];
  const items = [];
  for (const [name, context] of Object.entries(images)) {
    values.push({ path: ['images', name, 'context'], value: context });
    items.push({ path: ['images', name, 'inputs', 'files'], items: [`kolla-sources/${name}.json`] });
  }
  return {
    files: new Map([['docker/macros.j2', '{# macros #}\n']]),
    values,
    items,
    initial: [
      { path: ['version'], value: 1 },
      { path: ['registry', 'url'], value: 'docker.io' },
    ],
    images: Object.keys(images),
    ...extra,
  };
}

describe('writeProject', () => {
  it('a second import of the same checkout changes nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbor-kolla-write-'));
    const first = await writeProject(dir, plan({ a: 'docker/a' }), { force: false });
    expect(first.written).toEqual(['docker/macros.j2']);
    const text = readFileSync(path.join(dir, 'images.yaml'), 'utf8');
    const second = await writeProject(dir, plan({ a: 'docker/a' }), { force: false });
    expect(second).toMatchObject({ written: [], deleted: [], unchanged: 1, imagesYamlChanged: false });
    expect(readFileSync(path.join(dir, 'images.yaml'), 'utf8')).toBe(text);
  });

  it("keeps the user's keys, comments and list items; removes what upstream removed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbor-kolla-write-'));
    await writeProject(dir, plan({ a: 'docker/a', b: 'docker/b' }), { force: false });
    const file = path.join(dir, 'images.yaml');
    const doc = YAML.parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(['registry', 'url'], 'registry.example.com');
    doc.setIn(['images', 'a', 'inputs', 'files'], ['kolla-sources/a.json', 'mine.txt']);
    doc.setIn(['images', 'a', 'labels'], { team: 'x' });
    doc.setIn(['retention'], [{ repositories: ['*'], keep_last: 2 }]);
    writeFileSync(file, `# my comment\n${doc.toString()}`);

    await writeProject(dir, plan({ a: 'docker/a2' }), { force: false });
    const after = YAML.parse(readFileSync(file, 'utf8'));
    expect(readFileSync(file, 'utf8')).toContain('# my comment');
    expect(after.registry.url).toBe('registry.example.com');
    expect(after.images.a).toEqual({
      context: 'docker/a2',
      inputs: { files: ['kolla-sources/a.json', 'mine.txt'] },
      labels: { team: 'x' },
    });
    expect(after.images.b).toBeUndefined();
    expect(after.retention).toEqual([{ repositories: ['*'], keep_last: 2 }]);
  });

  it('stops at an edited generated value or file, changing nothing; --force overwrites and says so', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbor-kolla-write-'));
    await writeProject(dir, plan({ a: 'docker/a' }), { force: false });
    const file = path.join(dir, 'images.yaml');
    const edited = readFileSync(file, 'utf8').replace('context: docker/a', 'context: docker/mine');
    writeFileSync(file, edited);
    writeFileSync(path.join(dir, 'docker/macros.j2'), 'mine\n');
    const refused = await writeProject(dir, plan({ a: 'docker/a' }), { force: false }).catch(
      (e: Error) => e.message,
    );
    expect(refused).toMatch(
      /images\.yaml:\d+:\d+: error: images\.a\.context was edited since the last import/,
    );
    expect(refused).toMatch(/macros\.j2 was edited since the last import/);
    expect(readFileSync(file, 'utf8')).toBe(edited);
    const forced = await writeProject(dir, plan({ a: 'docker/a' }), { force: true });
    expect(forced.overwritten.map((d) => d.message)).toHaveLength(2);
    expect(readFileSync(path.join(dir, 'docker/macros.j2'), 'utf8')).toBe('{# macros #}\n');
  });

  it('a file it would write that is not its own is a conflict; a file it wrote and no longer makes is deleted', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbor-kolla-write-'));
    writeFileSync(path.join(dir, 'images.yaml'), 'version: 1\n');
    const withOld = plan({ a: 'docker/a' });
    withOld.files.set('docker/old.j2', 'old\n');
    await writeProject(dir, withOld, { force: false });
    expect(existsSync(path.join(dir, 'docker/old.j2'))).toBe(true);
    const result = await writeProject(dir, plan({ a: 'docker/a' }), { force: false });
    expect(result.deleted).toEqual(['docker/old.j2']);
    expect(existsSync(path.join(dir, 'docker/old.j2'))).toBe(false);

    const other = mkdtempSync(path.join(tmpdir(), 'arbor-kolla-write-'));
    writeFileSync(path.join(other, 'images.yaml'), 'version: 1\n');
    await writeProject(other, { ...plan({}), files: new Map() }, { force: false });
    writeFileSync(path.join(other, 'stray.txt'), 'x');
    const p = plan({});
    p.files = new Map([['stray.txt', 'y']]);
    await expect(writeProject(other, p, { force: false })).rejects.toThrow(
      /stray\.txt exists and was not written by import-kolla/,
    );
  });
});

describe('unbuildable images', () => {
  const table = {
    rocky: ['collectd', 'ovsdpdk'],
    aarch64: ['bifrost-base'],
    'rocky+aarch64': ['x'],
    debian: [],
  };
  it("applies the keys naming the build's base and architecture", () => {
    expect([...unbuildableFor(table, (k) => matchesBaseAndArch(k, 'rocky', 'x86_64'))].sort()).toEqual([
      'collectd',
      'ovsdpdk',
    ]);
    expect([...unbuildableFor(table, (k) => matchesBaseAndArch(k, 'rocky', 'aarch64'))].sort()).toEqual([
      'bifrost-base',
      'collectd',
      'ovsdpdk',
      'x',
    ]);
  });
  it('leaves out the descendants too', () => {
    const parents: Record<string, string> = { 'ovsdpdk-db': 'ovsdpdk', ovsdpdk: 'base', collectd: 'base' };
    expect([
      ...withDescendants(new Set(['ovsdpdk']), (n) => parents[n], [
        'base',
        'ovsdpdk',
        'ovsdpdk-db',
        'collectd',
      ]),
    ]).toEqual(['ovsdpdk', 'ovsdpdk-db']);
  });
});

describe('FROM lines', () => {
  it('the first FROM line of a template points at the parent', () => {
    expect(rewriteFromLine('{# c #}\nFROM {{ namespace }}/base:{{ tag }}\nRUN x\nFROM y\n')).toBe(
      `{# c #}\n${PARENT_FROM_LINE}\nRUN x\nFROM y\n`,
    );
    expect(rewriteFromLine('RUN x\n')).toBeUndefined();
  });
  it("kolla-build's parent: the second word of the first FROM line", () => {
    expect(fromTarget('LABEL a=b\nFROM kolla/base:master\nFROM other')).toBe('kolla/base:master');
    expect(fromTarget('RUN x')).toBeUndefined();
  });
});

describe('source locks', () => {
  const source = {
    section: 'nova-base',
    archive: 'nova-base-archive',
    kind: 'source' as const,
    type: 'git' as const,
    location: 'https://g/nova',
    reference: 'main',
  };
  it('keep what a fetch resolved while the source is the same, and drop it when it changes', () => {
    const fetched = { ...lockOf(source), resolved: { commit: 'abc' } };
    expect(lockOf(source, fetched).resolved).toEqual({ commit: 'abc' });
    expect(lockOf({ ...source, reference: 'stable' }, fetched).resolved).toBeUndefined();
  });
});
