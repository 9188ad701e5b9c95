// The promotion prefetch list: kept only for the images.yaml text (and release) it was made
// from, so HEADs never go out for a file that names other registries; unreadable means none.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadPromotePrefetch,
  observedHeads,
  promotePrefetchFile,
  savePromotePrefetch,
} from '../../../src/promote/prefetch.js';

const registry = (url: string) => ({ url, namespace: 'ns', insecure: true });

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
        { registry: registry('127.0.0.1:5001'), heads: [['ns/keystone', '2025.1'] as [string, string]] },
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

  it('reads repository and tag back from the plan’s observed keys (the last colon separates the tag)', () => {
    expect(observedHeads({ 'ns/keystone:2025.1': 'sha256:1', 'a/b/c:latest': null })).toEqual([
      ['ns/keystone', '2025.1'],
      ['a/b/c', 'latest'],
    ]);
  });
});
