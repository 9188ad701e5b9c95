// `import-kolla --fetch-sources`: what kolla-build does with the `*-archive` sources at build
// time (tasks.py process_source / make_an_archive), done once at import so the build contexts
// hold the archives and their content is part of each fingerprint:
//   url    downloaded (and checked against the configured sha256 for the architecture);
//   git    cloned, the reference checked out, its commit recorded, the tree archived;
//   local  a file copied, a directory archived.
// An image's own source becomes `<image>-archive` in its context. Its plugins and additions are
// unpacked together and archived again as `plugins-archive` / `additions-archive` (every image
// gets both, empty when it has none, as kolla-build makes them). Archives made here are
// deterministic: entries sorted, owner root, mtime 0, and a git tree without its `.git`.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { ArborError, type Diagnostic, error } from '../errors.js';
import type { KollaSource } from './defaults.js';
import type { ImageInProject } from './project.js';
import type { SourceLock } from './sources-lock.js';

export interface FetchOptions {
  /** Only these sections (all when undefined). */
  only?: string[];
  /** kolla-build's debian_arch: the key of a source's sha256 table. */
  debianArch: string;
  /** Project-relative directory of the image contexts (`docker`). */
  contextsDir: string;
  /** Base for `local` sources given as relative paths (kolla-build's locals_base). */
  localsBase: string;
}

export interface FetchResult {
  /** Project-relative archive path → bytes. */
  archives: Map<string, Uint8Array>;
  /** Locks with `resolved` filled for what was fetched. */
  locks: Map<string, SourceLock>;
}

interface Entry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  content?: Buffer;
  linkname?: string;
}

export async function fetchSources(
  images: ImageInProject[],
  locks: Map<string, SourceLock>,
  options: FetchOptions,
): Promise<FetchResult> {
  const archives = new Map<string, Uint8Array>();
  const resolved = new Map(locks);
  const problems: Diagnostic[] = [];
  const wanted = (s: KollaSource) => options.only === undefined || options.only.includes(s.section);
  const fetched = new Map<string, Buffer>();

  const get = async (source: KollaSource): Promise<Buffer | undefined> => {
    const cached = fetched.get(source.section);
    if (cached) return cached;
    try {
      const { bytes, resolution } = await fetchOne(source, options);
      fetched.set(source.section, bytes);
      const lock = resolved.get(source.section);
      if (lock) resolved.set(source.section, { ...lock, resolved: resolution });
      return bytes;
    } catch (err) {
      problems.push(
        error(`source ${source.section} (${source.type} ${source.location}): ${(err as Error).message}`),
      );
      return undefined;
    }
  };

  for (const { image, sources } of images) {
    const dir = `${options.contextsDir}/${image.dir}`;
    const own = sources.find((s) => s.kind === 'source');
    if (own && wanted(own)) {
      const bytes = await get(own);
      if (bytes) archives.set(`${dir}/${own.archive}`, bytes);
    }
    for (const [kind, root, archive] of [
      ['plugin', 'plugins', 'plugins-archive'],
      ['addition', 'additions', 'additions-archive'],
    ] as const) {
      const parts = sources.filter((s) => s.kind === kind);
      if (!parts.every(wanted)) continue;
      const entries: Entry[] = [{ name: `${root}/`, type: 'directory', mode: 0o755 }];
      for (const part of parts) {
        const bytes = await get(part);
        if (!bytes) continue;
        try {
          for (const e of await unpack(bytes)) entries.push({ ...e, name: `${root}/${e.name}` });
        } catch (err) {
          problems.push(error(`source ${part.section}: ${(err as Error).message}`));
        }
      }
      archives.set(`${dir}/${archive}`, await pack(entries));
    }
  }
  if (problems.length > 0) throw new ArborError(problems);
  return { archives, locks: resolved };
}

async function fetchOne(
  source: KollaSource,
  options: FetchOptions,
): Promise<{ bytes: Buffer; resolution: SourceLock['resolved'] }> {
  switch (source.type) {
    case 'url': {
      const response = await fetch(source.location, {
        redirect: 'follow',
        signal: AbortSignal.timeout(120_000),
      });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const expected = source.sha256?.[options.debianArch];
      if (expected !== undefined && expected !== sha256)
        throw new Error(`SHA256 checksum does not match (configured: ${expected}, computed: ${sha256})`);
      return { bytes, resolution: { sha256 } };
    }
    case 'git':
      return fetchGit(source);
    case 'local': {
      const location = path.resolve(options.localsBase, source.location);
      if (!existsSync(location)) throw new Error('no such file or directory');
      const bytes = lstatSync(location).isDirectory()
        ? await pack(readTree(location, path.basename(location)))
        : readFileSync(location);
      return { bytes, resolution: { sha256: createHash('sha256').update(bytes).digest('hex') } };
    }
    default:
      throw new Error(`unknown source type "${String(source.type)}"`);
  }
}

async function fetchGit(source: KollaSource): Promise<{ bytes: Buffer; resolution: SourceLock['resolved'] }> {
  const reference = source.reference ?? 'HEAD';
  const work = mkdtempSync(path.join(os.tmpdir(), 'arbor-kolla-git-'));
  // kolla-build's clone directory name is the archive's top directory.
  const name = `${source.section}-archive-${reference.replaceAll('/', '-')}`;
  const dir = path.join(work, name);
  try {
    await git(['clone', '--quiet', '--no-checkout', source.location, dir]);
    await git(['-C', dir, 'checkout', '--quiet', reference]);
    const commit = (await git(['-C', dir, 'rev-parse', 'HEAD'])).trim();
    const entries = readTree(dir, name).filter(
      (e) => e.name !== `${name}/.git/` && !e.name.startsWith(`${name}/.git/`),
    );
    return { bytes: await pack(entries), resolution: { commit } };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function git(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`git ${args[0] === '-C' ? args[2] : args[0]}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A directory as tar entries under `root/`, sorted, symlinks kept as links. */
function readTree(dir: string, root: string): Entry[] {
  const entries: Entry[] = [{ name: `${root}/`, type: 'directory', mode: 0o755 }];
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const file = path.join(abs, name);
      const entryName = `${rel}/${name}`;
      const stat = lstatSync(file);
      if (stat.isSymbolicLink())
        entries.push({ name: entryName, type: 'symlink', mode: 0o777, linkname: readlinkSync(file) });
      else if (stat.isDirectory()) {
        entries.push({ name: `${entryName}/`, type: 'directory', mode: stat.mode & 0o7777 });
        walk(file, entryName);
      } else if (stat.isFile())
        entries.push({
          name: entryName,
          type: 'file',
          mode: stat.mode & 0o7777,
          content: readFileSync(file),
        });
    }
  };
  walk(dir, root);
  return entries;
}

/** The entries of a tar (or tar.gz) archive; a name leaving the archive's root is refused, as kolla-build does. */
function unpack(bytes: Buffer): Promise<Entry[]> {
  const data = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  return new Promise((resolve, reject) => {
    const entries: Entry[] = [];
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        const normalized = path.posix.normalize(header.name);
        if (path.posix.isAbsolute(normalized) || normalized === '..' || normalized.startsWith('../')) {
          reject(new Error(`unsafe file name in archive: ${header.name}`));
          return;
        }
        if (header.type === 'file' || header.type === 'directory' || header.type === 'symlink')
          entries.push({
            name: header.type === 'directory' ? `${normalized.replace(/\/$/, '')}/` : normalized,
            type: header.type,
            mode: header.mode ?? 0o644,
            ...(header.type === 'file' ? { content: Buffer.concat(chunks) } : {}),
            ...(header.linkname ? { linkname: header.linkname } : {}),
          });
        next();
      });
      stream.resume();
    });
    extract.on('finish', () => resolve(entries));
    extract.on('error', (err: Error) => reject(new Error(`not a tar archive (${err.message})`)));
    extract.end(data);
  });
}

/** A tar of the entries in name order: owner root, mtime 0 (as kolla-build's normalize_tarinfo). */
function pack(entries: Entry[]): Promise<Buffer> {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return new Promise((resolve, reject) => {
    const p = tar.pack();
    const chunks: Buffer[] = [];
    p.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    p.on('end', () => resolve(Buffer.concat(chunks)));
    p.on('error', reject);
    for (const e of sorted) {
      const header = {
        name: e.name,
        type: e.type,
        mode: e.mode,
        uid: 0,
        gid: 0,
        uname: 'root',
        gname: 'root',
        mtime: new Date(0),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      };
      if (e.type === 'file') p.entry(header, e.content ?? Buffer.alloc(0));
      else p.entry(header);
    }
    p.finalize();
  });
}
