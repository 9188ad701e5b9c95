// The promotion prefetch list: kept only for the images.yaml text (and release) it was made
// from, so HEADs never go out for a file that names other registries; unreadable means none.
// Each HEAD carries the manifest the tag should name after the promotion (its If-None-Match).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TargetPlan } from '../../../src/promote/model.js';
import {
  expectedHeads,
  loadPromotePrefetch,
  promotePrefetchFile,
  savePromotePrefetch,
} from '../../../src/promote/prefetch.js';

const registry = (url: string) => ({ url, namespace: 'ns', insecure: true });
const manifest = {
  digest: `sha256:${'1'.repeat(64)}`,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 550,
};

describe('promotion prefetch list', () => {
  it('round-trips for the same text and release, and is ignored for another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-promote-prefetch-'));
    const file = promotePrefetchFile(join(dir, 'images.yaml'));
    expect(file).toBe(join(dir, '.arbor', 'cache', 'promote-prefetch.json'));
    const list = {
      configText: 'sha256:aa',
      release: '2025.1-p6',
      home: registry('127.0.0.1:5000'),
      targets: [
        {
          registry: registry('127.0.0.1:5001'),
          heads: [['ns/keystone', '2025.1', manifest] as const],
        },
      ],
    };
    await savePromotePrefetch(file, list);
    expect(await loadPromotePrefetch(file, 'sha256:aa', '2025.1-p6')).toEqual(list);
    // No release named: the previous promotion's list is taken (a wasted HEAD at worst).
    expect(await loadPromotePrefetch(file, 'sha256:aa', undefined)).toEqual(list);
    expect(await loadPromotePrefetch(file, 'sha256:bb', '2025.1-p6')).toBeNull();
    expect(await loadPromotePrefetch(file, 'sha256:aa', '2025.1-p7')).toBeNull();
    writeFileSync(file, '{"format":"arbor-promote-prefetch"');
    expect(await loadPromotePrefetch(file, 'sha256:aa', undefined)).toBeNull();
    expect(await loadPromotePrefetch(join(dir, 'missing.json'), 'sha256:aa', undefined)).toBeNull();
  });

  it('refuses a list of the first version (HEADs without the manifest they expect)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-promote-prefetch-'));
    const file = promotePrefetchFile(join(dir, 'images.yaml'));
    mkdirSync(dirname(file), { recursive: true });
    const v1 = { format: 'arbor-promote-prefetch', version: 1, configText: 'sha256:aa', release: 'r1' };
    const targets = [{ registry: registry('127.0.0.1:5001'), heads: [['ns/keystone', '2025.1']] }];
    writeFileSync(file, JSON.stringify({ ...v1, home: registry('127.0.0.1:5000'), targets }));
    expect(await loadPromotePrefetch(file, 'sha256:aa', 'r1')).toBeNull();
    // The current version with a head lacking its expectation: that target is left out.
    writeFileSync(file, JSON.stringify({ ...v1, version: 2, home: registry('127.0.0.1:5000'), targets }));
    expect((await loadPromotePrefetch(file, 'sha256:aa', 'r1'))?.targets).toEqual([]);
  });

  it('expects, for every tag of every image in the plan, the release’s manifest, in plan order', () => {
    const image = (name: string, digest: string, tags: string[]) => ({
      name,
      targetRepository: `site/${name}`,
      digest,
      mediaType: manifest.mediaType,
      size: 550,
      tags,
    });
    const plan = {
      images: [image('base', 'sha256:b', ['2025.1', 'latest']), image('nova', 'sha256:n', ['2025.1'])],
    } as unknown as TargetPlan;
    const head = (digest: string) => ({ digest, mediaType: manifest.mediaType, size: 550 });
    expect(expectedHeads(plan)).toEqual([
      ['site/base', '2025.1', head('sha256:b')],
      ['site/base', 'latest', head('sha256:b')],
      ['site/nova', '2025.1', head('sha256:n')],
    ]);
  });
});
