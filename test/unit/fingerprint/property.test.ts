// The Merkle property, over random trees: change one input of one image and exactly that image
// and its descendants get a new fingerprint; touch only timestamps or create the files in
// another order (in another directory) and nothing changes.
// File contents are bytes, written as they are: the model and the disk never disagree (they once
// did, through a lossy string encoding, and the test failed now and then for a change that never
// reached the disk). The outcome depends on no timing: the file-hash cache may or may not answer
// a file (cache.ts, "racily clean"), the fingerprints are the same either way.
import { chmod, mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/model.js';
import { FileHashCache, fileHashCachePath } from '../../../src/fingerprint/cache.js';
import { fingerprintAll, makeConfig, removeTempDirs, simpleRenderer, sleep, tempDir } from './helpers.js';

afterAll(removeTempDirs);

interface FileModel {
  content: Uint8Array;
  mode: number;
}

interface ImageModel {
  /** Index of an earlier image, or null for a root (`from: scratch`). */
  parent: number | null;
  files: Record<string, FileModel>;
  /** Own variables (`V<i>_a`…); null = unset. */
  env: Record<string, string | null>;
  args: Record<string, string>;
  text: string;
}

const FILE_NAMES = ['a.txt', 'b/c.txt', 'b/d.sh', 'e', 'f/g/h'];
const MODES = [0o644, 0o755, 0o600];

const fileArb: fc.Arbitrary<FileModel> = fc.record({
  content: fc.uint8Array({ maxLength: 24 }),
  mode: fc.constantFrom(...MODES),
});

function imageArb(index: number): fc.Arbitrary<ImageModel> {
  return fc.record({
    parent: index === 0 ? fc.constant(null) : fc.option(fc.nat(index - 1), { nil: null }),
    files: fc.dictionary(fc.constantFrom(...FILE_NAMES), fileArb, { maxKeys: 4 }),
    env: fc.dictionary(
      fc.constantFrom(`V${index}_a`, `V${index}_b`),
      fc.option(fc.string({ maxLength: 6 }), { nil: null }),
      {
        maxKeys: 2,
      },
    ),
    args: fc.dictionary(fc.constantFrom('A1', 'A2', 'A3'), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
    text: fc.string({ maxLength: 12 }),
  });
}

const treeArb: fc.Arbitrary<ImageModel[]> = fc
  .integer({ min: 1, max: 7 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => imageArb(i))));

type MutationKind = 'content' | 'mode' | 'env' | 'arg' | 'dockerfile';
const mutationArb = fc.record({
  target: fc.nat(),
  kind: fc.constantFrom<MutationKind>('content', 'mode', 'env', 'arg', 'dockerfile'),
});

const nameOf = (i: number) => `img${i}`;

function configFor(root: string, tree: ImageModel[]): Config {
  return makeConfig(
    root,
    tree.map((image, i) => ({
      name: nameOf(i),
      ...(image.parent === null ? { from: 'scratch' } : { parent: nameOf(image.parent) }),
      context: `ctx/${nameOf(i)}`,
      inputs: { files: [], env: Object.keys(image.env) },
      args: image.args,
    })),
  );
}

function envFor(tree: ImageModel[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const image of tree)
    for (const [name, value] of Object.entries(image.env)) if (value !== null) env[name] = value;
  return env;
}

const rendererFor = (tree: ImageModel[]) =>
  simpleRenderer(Object.fromEntries(tree.map((image, i) => [nameOf(i), `RUN ${image.text}`])));

/** Every file of the tree as [relative path, model], in a given order. */
function filesOf(tree: ImageModel[]): Array<[string, FileModel]> {
  return tree.flatMap((image, i) =>
    Object.entries(image.files).map(([name, file]): [string, FileModel] => [
      `ctx/${nameOf(i)}/${name}`,
      file,
    ]),
  );
}

async function writeModel(
  root: string,
  tree: ImageModel[],
  order: Array<[string, FileModel]> = filesOf(tree),
) {
  for (let i = 0; i < tree.length; i++) await mkdir(path.join(root, 'ctx', nameOf(i)), { recursive: true });
  for (const [rel, file] of order) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), file.content);
    await chmod(path.join(root, rel), file.mode);
  }
}

async function fingerprints(root: string, tree: ImageModel[], cache?: FileHashCache) {
  return fingerprintAll(configFor(root, tree), {
    env: envFor(tree),
    renderDockerfile: rendererFor(tree),
    cache,
  });
}

function descendantsAndSelf(tree: ImageModel[], target: number): Set<string> {
  const affected = new Set([target]);
  for (let i = target + 1; i < tree.length; i++) {
    const parent = tree[i]!.parent;
    if (parent !== null && affected.has(parent)) affected.add(i);
  }
  return new Set([...affected].map(nameOf));
}

/** Different bytes of the same length (one byte when empty). */
function altered(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) return Uint8Array.of(0x78);
  const next = Uint8Array.from(bytes);
  next[0] = next[0]! ^ 0x01;
  return next;
}

/** Applies the mutation to the model (and the disk) and returns the new model. */
async function mutate(
  root: string,
  tree: ImageModel[],
  target: number,
  kind: MutationKind,
): Promise<ImageModel[]> {
  const next: ImageModel[] = structuredClone(tree);
  const image = next[target]!;
  const dir = path.join(root, 'ctx', nameOf(target));
  const existing = Object.keys(image.files).sort()[0];
  switch (kind) {
    case 'content': {
      // Same size where possible, right after the first write: the cache must still notice.
      const name = existing ?? 'new.txt';
      const file = image.files[name] ?? { content: new Uint8Array(), mode: 0o644 };
      image.files[name] = { ...file, content: existing ? altered(file.content) : Buffer.from('new') };
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), image.files[name]!.content);
      await chmod(path.join(dir, name), image.files[name]!.mode);
      break;
    }
    case 'mode': {
      if (!existing) return mutate(root, tree, target, 'content');
      const file = image.files[existing]!;
      file.mode = file.mode === 0o755 ? 0o644 : 0o755;
      await chmod(path.join(dir, existing), file.mode);
      break;
    }
    case 'env': {
      const name = `V${target}_a`;
      const before = image.env[name];
      // Declared-but-unset becomes empty; undeclared becomes declared; a value changes.
      image.env[name] = before === undefined ? null : before === null ? '' : `${before}x`;
      break;
    }
    case 'arg':
      image.args.A1 = image.args.A1 === undefined ? '' : `${image.args.A1}x`;
      break;
    case 'dockerfile':
      image.text = `${image.text}x`;
      break;
  }
  return next;
}

describe('fingerprints are Merkle (property)', () => {
  it('one changed input changes exactly its image and the descendants, with the cache in use', async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, mutationArb, async (tree, mutation) => {
        const root = await tempDir('arbor-prop-');
        await writeModel(root, tree);
        // Older than a timestamp tick plus the cache's margin (50 ms): the cache stores every
        // file, so the run after the change really consults it.
        await sleep(80);
        const cache = await FileHashCache.load(fileHashCachePath(root));
        const before = await fingerprints(root, tree, cache);
        await cache.save();
        expect(cache.size).toBe(filesOf(tree).length);

        const target = mutation.target % tree.length;
        const changedTree = await mutate(root, tree, target, mutation.kind);
        const after = await fingerprints(
          root,
          changedTree,
          await FileHashCache.load(fileHashCachePath(root)),
        );

        const changed = new Set([...after.keys()].filter((name) => after.get(name) !== before.get(name)));
        expect(changed).toEqual(descendantsAndSelf(tree, target));
      }),
      { numRuns: 40 },
    );
  });

  it('timestamps and file creation order change nothing, and neither does the directory', async () => {
    await fc.assert(
      fc.asyncProperty(
        treeArb,
        fc.array(fc.integer({ min: 0, max: 2_000_000_000 }), { minLength: 40, maxLength: 40 }),
        async (tree, numbers) => {
          const first = await tempDir('arbor-prop-');
          await writeModel(first, tree);
          const reference = await fingerprints(first, tree);

          // Another directory, files created in another order, arbitrary timestamps.
          const files = filesOf(tree);
          const shuffled = files
            .map((file, i) => ({ file, key: numbers[i % numbers.length]! + i }))
            .sort((a, b) => a.key - b.key)
            .map((x) => x.file);
          const second = await tempDir('arbor-prop-');
          await writeModel(second, tree, shuffled);
          for (const [i, [rel]] of files.entries()) {
            const t = numbers[(i * 7) % numbers.length]!;
            await utimes(path.join(second, rel), t, t);
          }
          expect(await fingerprints(second, tree)).toEqual(reference);

          // Touching the original files in place, with a warm cache, changes nothing either.
          await sleep(80);
          const cache = await FileHashCache.load(fileHashCachePath(first));
          expect(await fingerprints(first, tree, cache)).toEqual(reference);
          await cache.save();
          for (const [rel] of files) await utimes(path.join(first, rel), new Date(), new Date());
          expect(await fingerprints(first, tree, await FileHashCache.load(fileHashCachePath(first)))).toEqual(
            reference,
          );
        },
      ),
      { numRuns: 25 },
    );
  });
});
