// Merkle fingerprints of images: every input an image is built from is hashed on its own, and
// the fingerprint is the hash of the sorted list of those input hashes, the parent's fingerprint
// among them. A change anywhere therefore reaches the image and exactly its descendants.
//
// Canonical encoding (FINGERPRINT_FORMAT_VERSION 1; bump it whenever anything below changes):
//   fingerprint = sha256( netstrings( "arbor-fingerprint", "<version>",
//                                     then for each input, sorted by kind then name (byte order):
//                                     kind, name, hash ) )
// netstrings = `<byte length>:<bytes>,` per field (canonical.ts). Each input's hash is
// `sha256(netstrings(fields))` of:
//   format               ["<version>"]                                      name "-"
//   dockerfile           the rendered Dockerfile split at every occurrence of parentRef (the
//                        text minus the parent reference, which the parent/base input holds; so
//                        a new parent reads as "parent changed", not also "Dockerfile changed",
//                        while the full text stays determined by the two)  name "-"
//   parent               [parentRef, parent fingerprint]                     name = parent image
//   base                 [from, parentRef] (parentRef = name@digest or "scratch") name = from
//   context              [type, mode in octal, content sha256 | link target | ""]  name = path
//   file                 sha256 of the content itself (what sha256sum prints)     name = path from root
//   env                  ["set", value] or ["unset"]                          name = variable
//   args / labels        [value]                                               name = key
//   platforms            the platforms, sorted, duplicates dropped             name "-"
//   content-fingerprint  [command]                                             name "-"
// Absolute paths, timestamps, owners and directory order never enter the encoding.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Config, ImageConfig } from '../config/model.js';
import { fingerprintTag, repositoryOf } from '../config/repository.js';
import { ArborError, type Diagnostic, error, type SourceLocation } from '../errors.js';
import { digestProblem, InvalidReferenceError, parseReference } from '../registry/reference.js';
import { redact } from '../secrets.js';
import type { FileHashCache } from './cache.js';
import { compareBytes, hashFields } from './canonical.js';
import { collectContextEntries, describeFsError } from './context.js';
import { envInputs, expandInputFiles } from './declared-inputs.js';
import { FileHasher, type HashStats } from './hash.js';
import type { ContextFile, FingerprintInput, ImageFingerprint } from './model.js';

export const FINGERPRINT_FORMAT_VERSION = 1;

export interface FingerprintRequest {
  config: Config;
  /** Images to fingerprint, topological (parents first), ancestors included. */
  order: string[];
  renderDockerfile(image: ImageConfig, parentRef: string | null): string;
  /** Digest of an external `from`; never called for `scratch` or refs pinned by digest. */
  resolveBase(ref: string): Promise<string>;
  env: NodeJS.ProcessEnv;
  cache?: FileHashCache;
  /** Filled with what was read and what the cache answered (benchmarks, verbose output). */
  stats?: HashStats;
}

export interface FingerprintedImage extends ImageFingerprint {
  dockerfile: string;
  /** What the Dockerfile builds FROM: `repo:fp-…` of the parent, `name@digest`, `scratch`, or null. */
  parentRef: string | null;
  context: ContextFile[];
}

/** Everything of an image that does not depend on its parent, gathered concurrently. */
interface Gathered {
  context: ContextFile[];
  inputs: FingerprintInput[];
  /** For an external `from`: what the Dockerfile builds FROM. */
  baseRef: string | null;
}

/** What one run shares between its images: the hasher, and each context and base found once. */
interface Run {
  req: FingerprintRequest;
  config: Config;
  hasher: FileHasher;
  /** The config root with symlinks resolved: input files must stay under it. */
  rootReal: string;
  contexts: Map<string, Promise<Outcome<ContextFile[]>>>;
  bases: Map<string, Promise<string>>;
}

export async function fingerprintImages(req: FingerprintRequest): Promise<Map<string, FingerprintedImage>> {
  const { config } = req;
  const run: Run = {
    req,
    config,
    hasher: new FileHasher(req.cache),
    rootReal: await realpath(config.root),
    contexts: new Map(),
    bases: new Map(),
  };
  const images = new Map(config.images.map((image) => [image.name, image]));
  const ordered = req.order.map((name) => {
    const image = images.get(name);
    if (!image) throw new Error(`internal: image ${name} is not in the configuration`);
    return image;
  });

  // Images are gathered concurrently; problems are reported in the given order, not in the
  // order the file system happened to answer.
  const problems: Diagnostic[] = [];
  const gathered = new Map<string, Gathered>();
  const outcomes = await Promise.all(ordered.map((image) => gather(run, image)));
  for (const [i, outcome] of outcomes.entries()) {
    if (Array.isArray(outcome)) problems.push(...outcome);
    else gathered.set(ordered[i]!.name, outcome);
  }

  // Then parents first, each image finished with its parent's fingerprint.
  const results = new Map<string, FingerprintedImage>();
  for (const image of ordered) {
    const own = gathered.get(image.name);
    const parent = image.parent ? results.get(image.parent) : undefined;
    // An image whose own inputs failed has been reported already.
    if (!own) continue;
    if (image.parent && !parent) {
      // Its parent failed (reported already), so it has no fingerprint; its own template is still
      // rendered, with a stand-in parent, so that every template error shows in one run.
      try {
        run.req.renderDockerfile(image, `${repositoryOf(config, image.parent)}:parent-not-fingerprinted`);
      } catch (e) {
        if (!(e instanceof ArborError)) throw e;
        problems.push(...e.diagnostics.map((d) => ({ image: image.name, ...d })));
      }
      continue;
    }
    try {
      results.set(image.name, finish(run, image, own, parent ?? null));
    } catch (e) {
      if (!(e instanceof ArborError)) throw e;
      problems.push(...e.diagnostics.map((d) => ({ image: image.name, ...d })));
    }
  }
  if (req.stats) Object.assign(req.stats, run.hasher.stats);
  if (problems.length > 0) throw new ArborError(problems);
  return results;
}

/** An image's own inputs (all but its Dockerfile and parent), or why they cannot be read. */
async function gather(run: Run, image: ImageConfig): Promise<Gathered | Diagnostic[]> {
  const { config } = run;
  const at = (path: Array<string | number>) => ({ image: image.name, loc: config.locate(path) });
  const [context, files, base] = await Promise.all([
    image.context === undefined ? { ok: true as const, value: [] } : hashedContext(run, image.context),
    expandInputFiles(config, image, run.rootReal),
    image.from === undefined ? null : resolveFrom(run, image.from, at(['images', image.name, 'from'])),
  ]);
  const failures: Diagnostic[] = [...files.problems];
  if (!context.ok) {
    const loc = config.locate(['images', image.name, 'context']);
    failures.push(...context.problems.map((d) => ({ ...d, image: image.name, loc })));
  }
  if (base && !base.ok) failures.push(...base.problems);
  if (failures.length > 0 || !context.ok || (base && !base.ok)) return failures;

  let fileHashes: string[];
  try {
    fileHashes = await Promise.all(files.files.map((f) => run.hasher.hash(f.realPath, f.stat)));
  } catch (e) {
    return [
      error(
        `cannot read an input file: ${describeFsError(e)}`,
        at(['images', image.name, 'inputs', 'files']),
      ),
    ];
  }
  const baseRef = base ? base.value : null;
  const declared = files.files.map(
    (f, i): FingerprintInput => ({ kind: 'file', name: f.name, hash: fileHashes[i]! }),
  );
  return {
    context: context.value,
    inputs: ownInputs(image, context.value, declared, baseRef, run.req.env),
    baseRef,
  };
}

/** The inputs of an image that its parent does not change, from values already read. */
function ownInputs(
  image: ImageConfig,
  context: ContextFile[],
  declaredFiles: FingerprintInput[],
  baseRef: string | null,
  env: NodeJS.ProcessEnv,
): FingerprintInput[] {
  const inputs: FingerprintInput[] = [
    { kind: 'format', name: '-', hash: hashFields([`${FINGERPRINT_FORMAT_VERSION}`]) },
    ...context.map(contextInput),
    ...declaredFiles,
    ...envInputs(image, env),
    ...Object.entries(image.args).map(
      ([k, v]): FingerprintInput => ({ kind: 'args', name: k, hash: hashFields([v]) }),
    ),
    ...Object.entries(image.labels).map(
      ([k, v]): FingerprintInput => ({ kind: 'labels', name: k, hash: hashFields([v]) }),
    ),
    { kind: 'platforms', name: '-', hash: hashFields([...new Set(image.platforms)].sort(compareBytes)) },
  ];
  if (image.contentFingerprint)
    inputs.push({
      kind: 'content-fingerprint',
      name: '-',
      hash: hashFields([image.contentFingerprint.command]),
    });
  if (baseRef !== null && image.from !== undefined)
    inputs.push({ kind: 'base', name: image.from, hash: hashFields([image.from, baseRef]) });
  return inputs;
}

/** Collects and hashes a context once, however many images share it. */
function hashedContext(run: Run, dir: string): Promise<Outcome<ContextFile[]>> {
  const key = path.resolve(run.config.root, dir);
  let pending = run.contexts.get(key);
  if (!pending) {
    pending = collectAndHash(run, dir);
    run.contexts.set(key, pending);
  }
  return pending;
}

async function collectAndHash(run: Run, dir: string): Promise<Outcome<ContextFile[]>> {
  let entries: Awaited<ReturnType<typeof collectContextEntries>>;
  try {
    entries = await collectContextEntries(dir, run.config.root);
  } catch (e) {
    if (e instanceof ArborError) return { ok: false, problems: e.diagnostics };
    throw e;
  }
  // Mostly answered synchronously (cache, small files); only large files are awaited.
  const value: ContextFile[] = [];
  const streamed: Promise<void>[] = [];
  const problems: Diagnostic[] = [];
  const failed = (absPath: string, e: unknown) => {
    // The path under the config root as the user sees it.
    const shown = path.relative(run.rootReal, absPath).split(path.sep).join('/');
    problems.push(error(`cannot read ${shown}: ${describeFsError(e)} (changed while arbor was reading?)`));
  };
  for (const { file, absPath, stat } of entries) {
    value.push(file);
    if (file.type !== 'file') continue;
    try {
      const hash = run.hasher.hash(absPath, stat);
      if (typeof hash === 'string') file.hash = hash;
      else
        streamed.push(
          hash.then(
            (h) => {
              file.hash = h;
            },
            (e) => failed(absPath, e),
          ),
        );
    } catch (e) {
      failed(absPath, e);
    }
  }
  await Promise.all(streamed);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value };
}

/** The FROM of an external base: `scratch`, a pinned reference as written, or `name@digest`. */
async function resolveFrom(
  run: Run,
  from: string,
  at: { image: string; loc: SourceLocation },
): Promise<Outcome<string>> {
  if (from === 'scratch') return { ok: true, value: 'scratch' };
  const fail = (problems: Diagnostic[]) => ({ ok: false as const, problems });
  try {
    const ref = parseReference(from);
    if (ref.digest) return { ok: true, value: from };
    let pending = run.bases.get(from);
    if (!pending) {
      pending = run.req.resolveBase(from);
      run.bases.set(from, pending);
    }
    const digest = await pending;
    const problem = digestProblem(digest);
    if (problem) return fail([error(`base ${from} resolved to "${digest}": ${problem}`, at)]);
    return { ok: true, value: `${withoutTag(from)}@${digest}` };
  } catch (e) {
    if (e instanceof InvalidReferenceError) return fail([error(e.message, at)]);
    if (e instanceof ArborError) return fail(e.diagnostics.map((d) => ({ ...at, ...d })));
    return fail([error(`cannot resolve base ${from}: ${redact((e as Error).message)}`, at)]);
  }
}

/** The fingerprint itself: the own inputs, the Dockerfile rendered FROM the parent, the parent's. */
function finish(
  run: Run,
  image: ImageConfig,
  own: Gathered,
  parent: FingerprintedImage | null,
): FingerprintedImage {
  const { config } = run;
  const parentRef = parent ? `${repositoryOf(config, parent.name)}:${parent.fingerprintTag}` : own.baseRef;
  const dockerfile = run.req.renderDockerfile(image, parentRef);
  const segments = parentRef === null ? [dockerfile] : dockerfile.split(parentRef);
  const inputs: FingerprintInput[] = [
    ...own.inputs,
    { kind: 'dockerfile', name: '-', hash: hashFields(segments) },
  ];
  if (parent && parentRef)
    inputs.push({ kind: 'parent', name: parent.name, hash: hashFields([parentRef, parent.fingerprint]) });
  inputs.sort((a, b) => compareBytes(a.kind, b.kind) || compareBytes(a.name, b.name));
  const fields = ['arbor-fingerprint', `${FINGERPRINT_FORMAT_VERSION}`];
  for (const input of inputs) fields.push(input.kind, input.name, input.hash);
  const fingerprint = hashFields(fields);
  return {
    name: image.name,
    fingerprint,
    fingerprintTag: fingerprintTag(config, fingerprint),
    inputs,
    dockerfile,
    parentRef,
    context: own.context,
  };
}

function contextInput(file: ContextFile): FingerprintInput {
  const content = file.type === 'file' ? file.hash! : file.type === 'symlink' ? file.linkTarget! : '';
  return { kind: 'context', name: file.path, hash: hashFields([file.type, file.mode.toString(8), content]) };
}

type Outcome<T> = { ok: true; value: T } | { ok: false; problems: Diagnostic[] };

/** `registry/repo:tag` → `registry/repo` (a port's colon comes before the last slash). */
function withoutTag(ref: string): string {
  const at = ref.indexOf('@');
  const bare = at >= 0 ? ref.slice(0, at) : ref;
  const colon = bare.indexOf(':', bare.lastIndexOf('/') + 1);
  return colon >= 0 ? bare.slice(0, colon) : bare;
}
