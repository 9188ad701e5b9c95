// The small pure parts of arbor unpack: entry names, whiteout names, chain ids, the layout's
// paths, and DUCC recipes.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import { chainIds } from '../../../src/unpack/chain-id.js';
import { displayName, parseEntryPath } from '../../../src/unpack/entry-path.js';
import { Layout, relativeLink } from '../../../src/unpack/layout.js';
import { formatOutputName, parseRecipe, parseRecipeImage, tagMatcher } from '../../../src/unpack/recipe.js';
import { storeKey } from '../../../src/unpack/store.js';
import { classifyName } from '../../../src/unpack/whiteout.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('entry names', () => {
  it('drop "./" and doubled slashes, refuse ".." and absolute names', () => {
    expect(parseEntryPath('./usr//bin/')).toEqual({ ok: true, path: 'usr/bin' });
    expect(parseEntryPath('.')).toEqual({ ok: true, path: '' });
    expect(parseEntryPath('a/./b')).toEqual({ ok: true, path: 'a/b' });
    expect(parseEntryPath('a/../b')).toEqual({ ok: false, reason: 'contains ".."' });
    expect(parseEntryPath('/x')).toEqual({ ok: false, reason: 'is an absolute path' });
    expect(parseEntryPath('..a/b..')).toEqual({ ok: true, path: '..a/b..' });
  });

  it('refuse a component longer than NAME_MAX (255 bytes), which no file system can create', () => {
    expect(parseEntryPath(`d/${'c'.repeat(255)}`).ok).toBe(true);
    expect(parseEntryPath(`d/${'c'.repeat(256)}`)).toEqual({
      ok: false,
      reason: 'has a component longer than 255 bytes',
    });
  });

  it('are shown with bytes that are not UTF-8 (and quotes, backslashes, controls) escaped', () => {
    // Names are the layer's bytes as latin1 strings: 'é' in UTF-8 is c3 a9.
    expect(displayName('caf\xc3\xa9-\xff-\xfe')).toBe('café-\\xff-\\xfe');
    expect(displayName('a"b\\c\n')).toBe('a\\x22b\\x5cc\\x0a');
  });
});

describe('whiteout names', () => {
  it('are classified as the spec names them', () => {
    expect(classifyName('.wh..wh..opq')).toEqual({ kind: 'opaque' });
    expect(classifyName('.wh.passwd')).toEqual({ kind: 'whiteout', target: 'passwd' });
    expect(classifyName('.wh..hidden')).toEqual({ kind: 'whiteout', target: '.hidden' });
    expect(classifyName('.wh..wh.plnk')).toEqual({ kind: 'aufs-meta' });
    expect(classifyName('wh.x')).toEqual({ kind: 'none' });
    expect(classifyName('.wh.').kind).toBe('invalid');
    expect(classifyName('.wh...').kind).toBe('invalid');
  });
});

describe('chain ids', () => {
  it('follow the image spec: the first is the diff_id, then sha256 of "previous diff_id"', () => {
    const [a, b, c] = [sha('a'), sha('b'), sha('c')];
    const ab = sha(`${a} ${b}`);
    expect(chainIds([a, b, c])).toEqual([a, ab, sha(`${ab} ${c}`)]);
    expect(chainIds([])).toEqual([]);
  });
});

describe('layout', () => {
  const layout = new Layout('/out');
  const digest = `sha256:${'ab'.repeat(32)}`;
  it('shards by the first two hex digits as DUCC does, and names images registry/repository:tag', () => {
    expect(layout.chainDir(digest)).toBe(`/out/.chains/ab/${'ab'.repeat(32)}`);
    expect(layout.layerFs(digest)).toBe(`/out/.layers/ab/${'ab'.repeat(32)}/layerfs`);
    expect(layout.flat(digest)).toBe(`/out/.flat/ab/${'ab'.repeat(32)}`);
    const name = { registry: '127.0.0.1:5000', repository: 'openstack/keystone', tag: '2025.1' };
    expect(layout.publicPath(name)).toBe('/out/127.0.0.1:5000/openstack/keystone:2025.1');
    expect(layout.metadataDir(name)).toBe('/out/.metadata/127.0.0.1:5000/openstack/keystone:2025.1');
    expect(layout.publicName({ registry: 'r', repository: 'x', digest })).toBe(`r/x@${digest}`);
    expect(relativeLink(layout.publicPath(name), layout.flat(digest))).toBe(
      `../../.flat/ab/${'ab'.repeat(32)}`,
    );
  });
});

describe('content store keys', () => {
  it('differ by content, mode, owner and xattrs, and not by mtime', () => {
    const meta = { mode: 0o644, uid: 0, gid: 0, mtime: 1 };
    const base = storeKey(sha('x'), meta);
    expect(storeKey(sha('x'), { ...meta, mtime: 2 })).toBe(base);
    expect(storeKey(sha('y'), meta)).not.toBe(base);
    expect(storeKey(sha('x'), { ...meta, mode: 0o755 })).not.toBe(base);
    expect(storeKey(sha('x'), { ...meta, uid: 1 })).not.toBe(base);
    expect(storeKey(sha('x'), { ...meta, gid: 1 })).not.toBe(base);
    expect(storeKey(sha('x'), { ...meta, xattrs: { 'user.a': Buffer.from('1') } })).not.toBe(base);
  });
});

describe('DUCC recipes', () => {
  it('parse image lines as DUCC does (scheme optional, Docker Hub library/, latest by default)', () => {
    expect(parseRecipeImage('https://registry.hub.docker.com/library/fedora:latest')).toEqual({
      scheme: 'https',
      registry: 'registry.hub.docker.com',
      repository: 'library/fedora',
      tag: 'latest',
    });
    expect(parseRecipeImage('registry.hub.docker.com/debian')).toMatchObject({
      repository: 'library/debian',
      tag: 'latest',
    });
    expect(parseRecipeImage('http://127.0.0.1:5000/a/b:1.*')).toMatchObject({
      scheme: 'http',
      tagPattern: '1.*',
    });
    expect(parseRecipeImage(`gitlab-registry.cern.ch/atlas/athena@sha256:${'0'.repeat(64)}`)).toMatchObject({
      digest: `sha256:${'0'.repeat(64)}`,
    });
    expect(parseRecipeImage('ftp://x/y')).toMatch(/scheme "ftp"/);
    expect(parseRecipeImage('noslash')).toMatch(/registry\/repository/);
    expect(parseRecipeImage('r.io/UPPER')).toMatch(/lowercase/);
  });

  it('name thin images with output_format as DUCC does', () => {
    const image = {
      scheme: 'https',
      registry: 'registry.hub.docker.com',
      repository: 'library/fedora',
      tag: '36',
    };
    expect(formatOutputName('$(scheme)://registry.gitlab.cern.ch/thin/$(image)', image)).toBe(
      'https://registry.gitlab.cern.ch/thin/library/fedora:36',
    );
    expect(formatOutputName('$(registry)/$(repository)_thin$(reference)', image)).toBe(
      'registry.hub.docker.com/library/fedora_thin:36',
    );
  });

  it('match tag patterns with * only', () => {
    const m = tagMatcher('1.*-py3');
    expect(['1.2-py3', '1.-py3', '1.2-py2', 'x1.2-py3'].filter(m)).toEqual(['1.2-py3', '1.-py3']);
  });

  it('report every problem with its line and column', () => {
    const text = [
      'version: 1',
      'user: x',
      'colour: red',
      'input:',
      "  - 'r.io/ok:1'",
      '  - 42',
      "  - 'bad'",
      '',
    ].join('\n');
    let caught: ArborError | undefined;
    try {
      parseRecipe(text, 'recipe.yaml');
    } catch (e) {
      caught = e as ArborError;
    }
    expect(caught).toBeInstanceOf(ArborError);
    const lines = caught!.diagnostics.map((d) => `${d.loc?.line}:${d.loc?.col} ${d.severity}`);
    expect(lines).toEqual(['3:1 warning', '6:5 error', '7:5 error']);
    const ok = parseRecipe(['version: 1', 'input:', "  - 'r.io/ok:1'", ''].join('\n'), 'r.yaml');
    expect(ok.images.map((i) => i.repository)).toEqual(['ok']);
  });
});
