// Layer application decided with plain values: a model file system (path → node) replays the
// operations, so each case states the tree the OCI spec says a stack of layers gives.
import { describe, expect, it } from 'vitest';
import {
  type ApplyMode,
  applyEntry,
  type EntryType,
  type LayerEntry,
  LayerEntryError,
  type Op,
  startLayer,
} from '../../../src/unpack/apply-layer.js';
import { TreeIndex } from '../../../src/unpack/tree-index.js';

type ModelNode = { type: string; mode?: number; target?: string; from?: string };

function entry(name: string, type: EntryType = 'file', extra: Partial<LayerEntry> = {}): LayerEntry {
  return { name, type, meta: { mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 0 }, ...extra };
}

/** Applies layers to a model; returns path → node and every op issued. */
function apply(layers: LayerEntry[][], mode: ApplyMode = 'merge') {
  const index = new TreeIndex();
  const model = new Map<string, ModelNode>();
  const ops: Op[] = [];
  for (const layer of layers) {
    const app = startLayer(index, mode);
    for (const e of layer) {
      for (const op of applyEntry(app, e)) {
        ops.push(op);
        switch (op.op) {
          case 'remove':
            for (const p of [...model.keys()])
              if (p === op.path || p.startsWith(`${op.path}/`)) model.delete(p);
            break;
          case 'mkdir':
            model.set(op.path, { type: 'dir', mode: op.meta.mode });
            break;
          case 'dirMeta':
            if (op.path !== '') model.set(op.path, { type: 'dir', mode: op.meta.mode });
            break;
          case 'file':
            model.set(op.path, { type: 'file', from: e.name });
            break;
          case 'symlink':
            model.set(op.path, { type: 'symlink', target: op.target });
            break;
          case 'hardlink':
            model.set(op.path, { ...(model.get(op.target) ?? { type: 'lower' }) });
            break;
          case 'special':
            model.set(op.path, { type: `${op.type}:${op.major}/${op.minor}` });
            break;
          case 'opaque':
            model.set(op.path, { ...model.get(op.path)!, opaque: true } as ModelNode);
            break;
        }
      }
    }
  }
  // The index and the model must agree on every path.
  expect(new Set([...index.entries()].map(([p]) => p))).toEqual(new Set(model.keys()));
  return { model, ops, paths: [...model.keys()].sort() };
}

const dir = (name: string, mode = 0o755) => entry(name, 'dir', { meta: { mode, uid: 0, gid: 0, mtime: 0 } });

describe('whiteouts', () => {
  it('delete lower entries wherever the marker sits among its siblings', () => {
    const lower = [dir('a/'), entry('a/x'), entry('a/y'), dir('a/d/'), entry('a/d/deep')];
    const after = apply([lower, [entry('a/new'), entry('a/.wh.x'), entry('a/.wh.d')]]);
    const before = apply([lower, [entry('a/.wh.x'), entry('a/.wh.d'), entry('a/new')]]);
    expect(after.paths).toEqual(['a', 'a/new', 'a/y']);
    expect(before.paths).toEqual(after.paths);
  });

  it('never hide an entry of their own layer (before or after it)', () => {
    const lower = [entry('f')];
    expect(apply([lower, [entry('f'), entry('.wh.f')]]).model.get('f')).toEqual({ type: 'file', from: 'f' });
    expect(apply([lower, [entry('.wh.f'), entry('f')]]).model.get('f')).toEqual({ type: 'file', from: 'f' });
  });

  it('of a directory this layer also writes into remove only its lower content', () => {
    const lower = [dir('d/', 0o700), entry('d/old')];
    for (const order of [
      [entry('d/new'), entry('.wh.d')],
      [entry('.wh.d'), entry('d/new')],
    ]) {
      const { model, paths } = apply([lower, order]);
      expect(paths).toEqual(['d', 'd/new']);
      // Only a parent now: the directory exists because of this layer, with implied attributes.
      expect(model.get('d')?.mode).toBe(0o755);
    }
  });

  it('of something that is not there, or below a file, do nothing', () => {
    expect(
      apply([[entry('f')], [entry('.wh.missing'), entry('f/.wh.x'), entry('nodir/.wh.x')]]).paths,
    ).toEqual(['f']);
  });

  it('AUFS bookkeeping names are skipped', () => {
    expect(apply([[entry('.wh..wh.plnk/123'), entry('.wh..wh.aufs'), entry('ok')]]).paths).toEqual(['ok']);
  });
});

describe('opaque directories', () => {
  const lower = [
    dir('o/'),
    entry('o/old'),
    dir('o/keep/'),
    entry('o/keep/old2'),
    dir('o/gone/'),
    entry('o/gone/x'),
  ];

  it('hide every lower entry and keep this layer’s, marker first or last', () => {
    const layer = [entry('o/new'), dir('o/keep/'), entry('o/keep/new2'), entry('o/implied/child')];
    const last = apply([lower, [...layer, entry('o/.wh..wh..opq')]]);
    const first = apply([lower, [entry('o/.wh..wh..opq'), ...layer]]);
    const middle = apply([lower, [layer[0]!, entry('o/.wh..wh..opq'), ...layer.slice(1)]]);
    const expected = ['o', 'o/implied', 'o/implied/child', 'o/keep', 'o/keep/new2', 'o/new'];
    expect(last.paths).toEqual(expected);
    expect(first.paths).toEqual(expected);
    expect(middle.paths).toEqual(expected);
  });

  it('create their directory when it is missing, and leave other directories alone', () => {
    expect(apply([[entry('x')], [entry('fresh/.wh..wh..opq')]]).paths).toEqual(['fresh', 'x']);
  });
});

describe('replacements', () => {
  it('file → directory → file', () => {
    const { model, paths } = apply([
      [entry('p'), dir('q/'), entry('q/r')],
      [dir('p/', 0o750), entry('p/s'), entry('q')],
      [entry('p'), dir('q/', 0o711), entry('q/t')],
    ]);
    expect(paths).toEqual(['p', 'q', 'q/t']);
    expect(model.get('q')).toEqual({ type: 'dir', mode: 0o711 });
  });

  it('a directory over a directory keeps its children and takes the new attributes', () => {
    const { model, paths } = apply([[dir('d/', 0o700), entry('d/x')], [dir('d/', 0o755)]]);
    expect(paths).toEqual(['d', 'd/x']);
    expect(model.get('d')?.mode).toBe(0o755);
  });

  it('a file replaces a symlink instead of writing through it', () => {
    const { model } = apply([
      [dir('etc/'), entry('etc/a'), entry('v', 'symlink', { linkname: 'etc/a' })],
      [entry('v')],
    ]);
    expect(model.get('v')).toEqual({ type: 'file', from: 'v' });
    expect(model.get('etc/a')).toEqual({ type: 'file', from: 'etc/a' });
  });

  it('the root directory takes the attributes of a "./" entry', () => {
    const { ops } = apply([[dir('./', 0o700), entry('./f')]]);
    expect(ops[0]).toEqual({ op: 'dirMeta', path: '', meta: { mode: 0o700, uid: 0, gid: 0, mtime: 0 } });
  });
});

describe('links', () => {
  it('hard links reach files of this layer and of lower layers, and symlinks', () => {
    const { model } = apply([
      [entry('lower')],
      [
        entry('h'),
        entry('h2', 'hardlink', { linkname: 'h' }),
        entry('h3', 'hardlink', { linkname: './lower' }),
      ],
      [
        entry('s', 'symlink', { linkname: '/anywhere/../at/all' }),
        entry('s2', 'hardlink', { linkname: 's' }),
      ],
    ]);
    expect(model.get('h2')).toEqual({ type: 'file', from: 'h' });
    expect(model.get('h3')).toEqual({ type: 'file', from: 'lower' });
    expect(model.get('s2')).toEqual({ type: 'symlink', target: '/anywhere/../at/all' });
  });

  it('in a layer’s own directory, a hard link to a lower layer is marked for the chain’s file', () => {
    const { ops } = apply([[entry('h', 'hardlink', { linkname: 'usr/bin/perl' })]], 'aufs');
    expect(ops).toContainEqual({ op: 'hardlink', path: 'h', target: 'usr/bin/perl', lower: true });
  });
});

describe('names are bytes', () => {
  it('a whiteout of a name that is not UTF-8 deletes that name only, not its U+FFFD look-alike', () => {
    const replacement = Buffer.from('n-\ufffd').toString('latin1');
    const { model } = apply([[entry('n-\xff'), entry('n-\xfe'), entry(replacement)], [entry('.wh.n-\xff')]]);
    expect([...model.keys()].sort()).toEqual(['n-\xfe', replacement].sort());
  });
});

describe('malicious entries are refused, naming the entry', () => {
  const refuse = (layers: LayerEntry[][], reason: RegExp) => {
    let caught: unknown;
    try {
      apply(layers);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LayerEntryError);
    expect((caught as Error).message).toMatch(reason);
  };

  it('a symlink with an empty target (symlink(2) cannot create it), the name escaped', () => {
    refuse(
      [[entry('e-\xff', 'symlink', { linkname: '' })]],
      /^entry "e-\\xff" is a symlink with an empty target/,
    );
  });

  it('names with "..", absolute names, NUL bytes', () => {
    refuse([[entry('../x')]], /^entry "\.\.\/x" contains "\.\."/);
    refuse([[entry('a/../../x')]], /contains "\.\."/);
    refuse([[entry('/etc/passwd')]], /^entry "\/etc\/passwd" is an absolute path/);
    refuse([[entry('a\0b')]], /NUL/);
  });

  it('writing, deleting or linking through a symlink', () => {
    refuse(
      [[entry('l', 'symlink', { linkname: '/etc' })], [entry('l/passwd')]],
      /entry "l\/passwd" writes through the symlink "l"/,
    );
    refuse(
      [[entry('l', 'symlink', { linkname: '/etc' })], [entry('l/.wh.passwd')]],
      /deletes through the symlink "l"/,
    );
    refuse(
      [[entry('l', 'symlink', { linkname: '/etc' })], [entry('l/.wh..wh..opq')]],
      /writes through the symlink "l"/,
    );
    refuse(
      [[entry('l', 'symlink', { linkname: '/etc' })], [entry('h', 'hardlink', { linkname: 'l/passwd' })]],
      /hard link through the symlink "l"/,
    );
  });

  it('hard links out of the root, to nothing, to a directory, to the root or to themselves', () => {
    refuse(
      [[entry('h', 'hardlink', { linkname: '../../etc/passwd' })]],
      /hard link whose target "..\/..\/etc\/passwd" contains ".."/,
    );
    refuse([[entry('h', 'hardlink', { linkname: '/etc/passwd' })]], /absolute path/);
    refuse([[entry('h', 'hardlink', { linkname: 'missing' })]], /does not exist/);
    refuse([[dir('d/'), entry('h', 'hardlink', { linkname: 'd' })]], /hard link to the directory "d"/);
    refuse([[entry('h', 'hardlink', { linkname: './' })]], /hard link to the root/);
    refuse([[entry('h'), entry('h', 'hardlink', { linkname: 'h' })]], /hard link to itself/);
  });

  it('whiteouts of "." or "..", entries below a file, a root that is not a directory', () => {
    refuse([[dir('d/'), entry('d/.wh...')]], /would delete outside its directory/);
    refuse([[entry('.wh..')]], /would delete outside its directory/);
    refuse([[entry('f'), entry('f/x')]], /is below "f", which is not a directory/);
    refuse([[entry('./')]], /replaces the root/);
  });
});

describe('overlay mode (layer directories for stacking consumers)', () => {
  it('turns whiteouts into 0/0 character devices and opaque markers into the directory attribute', () => {
    const { model, ops } = apply(
      [[dir('a/'), entry('a/.wh.x'), entry('o/.wh..wh..opq'), entry('o/y')]],
      'overlay',
    );
    expect(model.get('a/x')).toEqual({ type: 'char:0/0' });
    expect(ops).toContainEqual({ op: 'opaque', path: 'o' });
    expect(model.has('a/.wh.x')).toBe(false);
  });

  it('keeps an entry of the same layer over its whiteout, making a directory opaque instead', () => {
    expect(apply([[entry('f'), entry('.wh.f')]], 'overlay').model.get('f')).toEqual({
      type: 'file',
      from: 'f',
    });
    const { ops } = apply([[entry('.wh.d'), dir('d/'), entry('d/x')]], 'overlay');
    expect(ops).toContainEqual({ op: 'opaque', path: 'd' });
  });

  it('aufs mode keeps whiteouts as the files the tar has', () => {
    expect(apply([[entry('a/.wh.x'), entry('.wh..wh..opq')]], 'aufs').paths).toEqual([
      '.wh..wh..opq',
      'a',
      'a/.wh.x',
    ]);
  });
});
