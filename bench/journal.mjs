// The promotion journal's cost on a promotion's critical path as its history grows (issue 12):
// what `promote apply` does with it between the copies and the flip, and after the flip — read
// (the newest entry), begin an entry for the tags about to move and store it, close it after the
// flip. History: H earlier promotions of T tags each, written through the same module first
// (untimed). `--dist DIR` measures another checkout's compiled code (`dist/`) in the same way:
// its single-file journal (`readJournal`/`writeJournal`, before the journal became one file per
// promotion) is detected and driven through its own functions.
//
//   npm run build && node bench/journal.mjs [--history 0,10,50] [--tags 300] [--runs 9] [--dist DIR]
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    history: { type: 'string', default: '0,10,50' },
    tags: { type: 'string', default: '300' },
    runs: { type: 'string', default: '9' },
    dist: { type: 'string' },
  },
});
const dist = values.dist ? path.resolve(values.dist, 'dist') : path.join(HERE, '..', 'dist');
const journal = await import(pathToFileURL(path.join(dist, 'promote', 'journal.js')).href);
const perEntry = typeof journal.writeEntry === 'function';
const TAGS = Number(values.tags);
const RUNS = Number(values.runs);
const digest = () => `sha256:${randomBytes(32).toString('hex')}`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;
const tagsOf = (release) =>
  Array.from({ length: TAGS }, (_, i) => ({
    repository: `site/image-${i % 187}`,
    tag: `2025.1-${release}`,
    previous: i % 3 ? digest() : null,
    next: digest(),
  }));

/** One store per layout: where it lives, how a promotion reads and writes it. */
function store(root) {
  if (perEntry) {
    const dir = journal.journalDir(root, 'site');
    const storeLast = async (j) => {
      const e = await journal.writeEntry(dir, j, j.entries.at(-1));
      return { ...j, entries: [...j.entries.slice(0, -1), e] };
    };
    return {
      read: (newest) => journal.readJournal(dir, 'site', 'b.example', newest ? { newest: 1 } : {}),
      begin: (j, release) =>
        storeLast(journal.beginEntry(j, release, tagsOf(release), new Date().toISOString())),
      complete: (j) => storeLast(journal.completeEntry(j, new Date().toISOString())),
      bytes: async () => {
        const names = await readdir(dir).catch(() => []);
        let total = 0;
        for (const n of names) total += (await stat(path.join(dir, n))).size;
        return total;
      },
    };
  }
  const file = journal.journalFile(root, 'site');
  return {
    read: () => journal.readJournal(file, 'site', 'b.example'),
    begin: async (j, release) => {
      const next = journal.beginEntry(j, release, tagsOf(release), new Date().toISOString());
      await journal.writeJournal(file, next);
      return next;
    },
    complete: async (j) => {
      const next = journal.completeEntry(j, new Date().toISOString());
      await journal.writeJournal(file, next);
      return next;
    },
    bytes: async () => (await stat(file).catch(() => ({ size: 0 }))).size,
  };
}

const results = [];
for (const history of values.history.split(',').map(Number)) {
  const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-journal-'));
  try {
    const s = store(root);
    let j = await s.read(false);
    for (let i = 0; i < history; i++) j = await s.complete(await s.begin(j, `h${i}`));
    const bytes = await s.bytes();
    const runs = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      let k = await s.read(true);
      k = await s.begin(k, `r${r}`);
      const t1 = performance.now();
      await s.complete(k);
      const t2 = performance.now();
      runs.push({ beforeFlip: t1 - t0, afterFlip: t2 - t1 });
    }
    results.push({
      history,
      journalBytes: bytes,
      beforeFlipMs: round(median(runs.map((r) => r.beforeFlip))),
      afterFlipMs: round(median(runs.map((r) => r.afterFlip))),
      totalMs: round(median(runs.map((r) => r.beforeFlip + r.afterFlip))),
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
console.log(
  JSON.stringify(
    {
      benchmark: 'journal',
      layout: perEntry ? 'one file per promotion' : 'one file per target',
      dist,
      tagsPerEntry: TAGS,
      runs: RUNS,
      node: process.version,
      results,
    },
    null,
    2,
  ),
);
