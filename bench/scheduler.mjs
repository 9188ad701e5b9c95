// Scheduler efficiency (issue 4, "Speed"): generated DAGs whose tasks sleep for given durations,
// run by the real runDag at concurrency 2, 4 and 8. For each case it reports the makespan against
// the two lower bounds no schedule can beat: the critical path (heaviest root-to-leaf chain) and
// the total work divided by the concurrency. Target: makespan ≤ 1.05 × max(both).
//
// Each case runs twice: on real timers (what a user sees, including timer lateness: setTimeout
// fires about a millisecond late, ~4% of a 27 ms task) and on a virtual clock (the same runDag,
// task completions replayed in duration order), which isolates the quality of the ordering. Next
// to the issue's bound it reports a tighter one for trees that fan out slowly (rampUpBound), since
// max(critical path, work / concurrency) is not reachable when few tasks are ready at the start.
//
//   npx tsc -p tsconfig.build.json && node bench/scheduler.mjs        (prints JSON)
import { performance } from 'node:perf_hooks';
import { setImmediate as flush } from 'node:timers/promises';
import { runDag } from '../dist/execute/scheduler.js';
import { prng } from './lib/generate-tree.mjs';

const TARGET = 1.05;
const CONCURRENCIES = [2, 4, 8];

const duration = (random) => 5 + Math.floor(random() * 46); // 5–50 ms

/** A random tree: every task but the first hangs under an earlier one (recent ones favoured, for depth). */
function randomTree(n, seed) {
  const random = prng(seed);
  const tasks = [];
  for (let i = 0; i < n; i++) {
    const parent = i === 0 ? null : `t${Math.floor(i * (1 - random() ** 2))}`;
    tasks.push({
      name: `t${i}`,
      parent: parent === `t${i}` ? `t${i - 1}` : parent,
      weight: duration(random),
    });
  }
  return tasks;
}

/**
 * 187 images shaped like an OpenStack (Kolla) release: base → openstack-base → 40 service bases
 * with 3 services each, plus 25 infrastructure images (mariadb, rabbitmq, …) right on base.
 */
function openstackLike(seed) {
  const random = prng(seed);
  const tasks = [{ name: 'base', parent: null, weight: duration(random) }];
  tasks.push({ name: 'openstack-base', parent: 'base', weight: duration(random) });
  for (let s = 0; s < 40; s++) {
    tasks.push({ name: `svc${s}-base`, parent: 'openstack-base', weight: duration(random) });
    for (let c = 0; c < 3; c++)
      tasks.push({ name: `svc${s}-${c}`, parent: `svc${s}-base`, weight: duration(random) });
  }
  for (let i = 0; i < 25; i++) tasks.push({ name: `infra${i}`, parent: 'base', weight: duration(random) });
  return tasks;
}

/** Time from the start of the first root to the start of each task, if nothing ever waited. */
function heads(tasks, weight) {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const memo = new Map();
  const head = (t) => {
    if (memo.has(t.name)) return memo.get(t.name);
    const parent = t.parent ? byName.get(t.parent) : undefined;
    const value = parent ? head(parent) + weight(parent) : 0;
    memo.set(t.name, value);
    return value;
  };
  return new Map(tasks.map((t) => [t.name, head(t)]));
}

function criticalPath(tasks, weight) {
  const h = heads(tasks, weight);
  return Math.max(...tasks.map((t) => h.get(t.name) + weight(t)));
}

/**
 * A tighter lower bound for trees that fan out slowly: a task cannot start before its ancestors'
 * chain is done (its head τ), so all tasks with head ≥ τ share c slots after τ:
 * makespan ≥ τ + (their work) / c, for every τ. (τ = 0 is the plain work / concurrency bound.)
 */
function rampUpBound(tasks, weight, concurrency) {
  const h = heads(tasks, weight);
  let best = 0;
  for (const tau of new Set(h.values())) {
    const work = tasks.filter((t) => h.get(t.name) >= tau).reduce((sum, t) => sum + weight(t), 0);
    best = Math.max(best, tau + work / concurrency);
  }
  return best;
}

/** Longest chain of work strictly below each task (what must still run after it ends). */
function tails(tasks, weight) {
  const children = new Map(tasks.map((t) => [t.name, []]));
  for (const t of tasks) if (t.parent) children.get(t.parent).push(t);
  const memo = new Map();
  const tail = (t) => {
    if (memo.has(t.name)) return memo.get(t.name);
    const value = Math.max(0, ...children.get(t.name).map((c) => weight(c) + tail(c)));
    memo.set(t.name, value);
    return value;
  };
  return new Map(tasks.map((t) => [t.name, tail(t)]));
}

/**
 * The ramp-up bound made symmetric: a task with head ≥ τ1 cannot start before τ1, and one with
 * tail ≥ τ2 must end by makespan − τ2 (its longest chain of descendants still has to run). So all
 * tasks with both share c slots inside [τ1, makespan − τ2]: makespan ≥ τ1 + τ2 + their work / c,
 * for every τ1, τ2. A lower bound on every schedule (the best one included), at least as tight as
 * rampUpBound (τ2 = 0) and the critical path (the chain's own tasks, one at a time, c = 1 aside).
 */
function headTailBound(tasks, weight, concurrency) {
  const h = heads(tasks, weight);
  const q = tails(tasks, weight);
  let best = criticalPath(tasks, weight);
  for (const tau1 of new Set(h.values())) {
    const late = tasks.filter((t) => h.get(t.name) >= tau1);
    for (const tau2 of new Set(late.map((t) => q.get(t.name)))) {
      const work = late.filter((t) => q.get(t.name) >= tau2).reduce((sum, t) => sum + weight(t), 0);
      best = Math.max(best, tau1 + tau2 + work / concurrency);
    }
  }
  return best;
}

/** Real timers; also returns how long each task really took (timers fire late, never early). */
async function realRun(tasks, concurrency) {
  const weights = new Map(tasks.map((t) => [t.name, t.weight]));
  const took = new Map();
  const started = performance.now();
  const outcomes = await runDag(
    tasks,
    (name) =>
      new Promise((resolve) => {
        const began = performance.now();
        setTimeout(() => {
          took.set(name, performance.now() - began);
          resolve();
        }, weights.get(name));
      }),
    { concurrency },
  );
  const makespan = performance.now() - started;
  if ([...outcomes.values()].some((o) => o.status !== 'done')) throw new Error('a task did not finish');
  return { makespan, took };
}

/** runDag on a virtual clock: a task "sleeps" until the clock reaches its end; the clock jumps. */
async function virtualRun(tasks, concurrency) {
  const weights = new Map(tasks.map((t) => [t.name, t.weight]));
  let now = 0;
  const sleeping = []; // { end, resolve }
  let finished = false;
  const run = runDag(
    tasks,
    (name) => new Promise((resolve) => sleeping.push({ end: now + weights.get(name), resolve })),
    { concurrency },
  ).then((outcomes) => {
    finished = true;
    return outcomes;
  });
  while (!finished) {
    await flush(); // let runDag launch whatever became ready
    if (sleeping.length === 0) continue;
    sleeping.sort((a, b) => a.end - b.end);
    now = sleeping[0].end;
    while (sleeping.length > 0 && sleeping[0].end === now) sleeping.shift().resolve();
  }
  await run;
  return now;
}

const dags = [
  { dag: 'random-tree-50', tasks: randomTree(50, 1) },
  { dag: 'random-tree-100', tasks: randomTree(100, 2) },
  { dag: 'random-tree-150', tasks: randomTree(150, 3) },
  { dag: 'random-tree-200', tasks: randomTree(200, 4) },
  { dag: 'openstack-like-187', tasks: openstackLike(5) },
];

const round = (x, digits = 3) => Number(x.toFixed(digits));
const planned = (t) => t.weight;
const cases = [];
for (const { dag, tasks } of dags) {
  const cp = criticalPath(tasks, planned);
  const work = tasks.reduce((sum, t) => sum + t.weight, 0);
  for (const concurrency of CONCURRENCIES) {
    const bound = Math.max(cp, work / concurrency);
    const { makespan, took } = await realRun(tasks, concurrency);
    const measured = (t) => took.get(t.name);
    const measuredCp = criticalPath(tasks, measured);
    const measuredWork = tasks.reduce((sum, t) => sum + measured(t), 0);
    const virtual = await virtualRun(tasks, concurrency);
    const rampUp = rampUpBound(tasks, planned, concurrency);
    const headTail = headTailBound(tasks, planned, concurrency);
    cases.push({
      dag,
      tasks: tasks.length,
      concurrency,
      // The issue's measure: real timers against the planned durations.
      makespanMs: round(makespan, 1),
      criticalPathMs: cp,
      workPerSlotMs: round(work / concurrency, 1),
      ratio: round(makespan / bound),
      // The same run against the durations the sleeping tasks really had (timer lateness is work).
      measuredRatio: round(makespan / Math.max(measuredCp, measuredWork / concurrency)),
      // The ordering alone, on a virtual clock, against the plain and the ramp-up lower bound.
      virtualMakespanMs: virtual,
      virtualRatio: round(virtual / bound),
      rampUpBoundMs: round(rampUp, 1),
      virtualRatioVsRampUp: round(virtual / rampUp),
      // The tightest bound here: no schedule at all can beat it, so this is "how far from optimal".
      headTailBoundMs: round(headTail, 1),
      virtualRatioVsHeadTail: round(virtual / headTail),
      measuredRatioVsHeadTail: round(makespan / headTailBound(tasks, measured, concurrency)),
      // The issue's bound is out of reach for every schedule when this exceeds 1.05.
      headTailOverIssueBound: round(headTail / bound),
    });
  }
}

const max = (key) => Math.max(...cases.map((c) => c[key]));
console.log(
  JSON.stringify(
    {
      benchmark: 'scheduler',
      node: process.version,
      target: TARGET,
      summary: {
        maxRatio: max('ratio'),
        maxMeasuredRatio: max('measuredRatio'),
        maxVirtualRatio: max('virtualRatio'),
        maxVirtualRatioVsRampUp: max('virtualRatioVsRampUp'),
        maxVirtualRatioVsHeadTail: max('virtualRatioVsHeadTail'),
        maxMeasuredRatioVsHeadTail: max('measuredRatioVsHeadTail'),
        casesMeetingTarget: `${cases.filter((c) => c.ratio <= TARGET).length}/${cases.length}`,
      },
      cases,
    },
    null,
    2,
  ),
);
