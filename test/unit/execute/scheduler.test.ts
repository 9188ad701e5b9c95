import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runDag, type SchedulerEvent, type Task } from '../../../src/execute/scheduler.js';

// Tasks are promises the test settles by hand: ordering is asserted on the recorded event
// sequence, never on time.
function harness() {
  const pending = new Map<string, { resolve: (v: string) => void; reject: (e: unknown) => void }>();
  const signals = new Map<string, AbortSignal>();
  const events: SchedulerEvent[] = [];
  const run = (name: string, signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      pending.set(name, { resolve, reject });
      signals.set(name, signal);
      signal.addEventListener('abort', () => reject(new Error(`${name} aborted`)));
    });
  const flush = () => new Promise((r) => setImmediate(r));
  const finish = async (name: string) => {
    const p = pending.get(name);
    if (!p) throw new Error(`${name} is not running`);
    pending.delete(name);
    p.resolve(`value of ${name}`);
    await flush();
  };
  const fail = async (name: string, error: unknown = new Error(`${name} broke`)) => {
    const p = pending.get(name);
    if (!p) throw new Error(`${name} is not running`);
    pending.delete(name);
    p.reject(error);
    await flush();
  };
  const started = () => events.filter((e) => e.type === 'start').map((e) => e.name);
  return {
    run,
    events,
    onEvent: (e: SchedulerEvent) => events.push(e),
    finish,
    fail,
    flush,
    started,
    pending,
    signals,
  };
}

const t = (name: string, parent: string | null = null, weight?: number): Task =>
  weight === undefined ? { name, parent } : { name, parent, weight };

describe('runDag', () => {
  it('starts a child only after its parent is done and never runs more than `concurrency` tasks', async () => {
    const h = harness();
    const tasks = [t('base'), t('tools', 'base'), t('libs', 'base'), t('svc', 'libs'), t('other')];
    const result = runDag(tasks, h.run, { concurrency: 2, onEvent: h.onEvent });
    await h.flush();
    expect(h.started()).toEqual(['base', 'other']);
    await h.finish('other');
    expect(h.started()).toEqual(['base', 'other']); // tools/libs wait for base
    await h.finish('base');
    expect(h.started()).toEqual(['base', 'other', 'libs', 'tools']); // libs has the longer path
    expect(h.pending.size).toBe(2);
    await h.finish('tools');
    expect(h.started()).toEqual(['base', 'other', 'libs', 'tools']);
    await h.finish('libs');
    await h.finish('svc');
    const outcomes = await result;
    expect([...outcomes.keys()]).toEqual(['base', 'tools', 'libs', 'svc', 'other']);
    expect(outcomes.get('svc')).toMatchObject({ status: 'done', value: 'value of svc' });
  });

  it('orders ready tasks by longest remaining path, then by name', async () => {
    const h = harness();
    // After root: `b` heads a chain of three, `a` and `c` are leaves; `heavy` is one task of weight 5.
    const tasks = [t('root'), t('a', 'root'), t('b', 'root'), t('b1', 'b'), t('b2', 'b1'), t('c', 'root')];
    tasks.push(t('heavy', null, 5), t('light', null, 1));
    const result = runDag(tasks, h.run, { concurrency: 1, onEvent: h.onEvent });
    await h.flush();
    expect(h.started()).toEqual(['heavy']); // remaining 5 beats root's 1 + 3
    // Once b1 is done, b2 is a leaf like a, c and light: the name breaks the tie.
    for (const name of ['heavy', 'root', 'b', 'b1', 'a', 'b2', 'c', 'light']) {
      expect(h.started().at(-1)).toBe(name);
      await h.finish(name);
    }
    await result;
  });

  it('marks every descendant of a failed task skipped, naming the original failure, while other branches carry on', async () => {
    const h = harness();
    const tasks = [
      t('base'),
      t('mid', 'base'),
      t('leaf1', 'mid'),
      t('leaf2', 'leaf1'),
      t('sibling', 'base'),
      t('sibling-child', 'sibling'),
    ];
    const result = runDag(tasks, h.run, { concurrency: 4, onEvent: h.onEvent });
    await h.flush();
    await h.finish('base');
    const boom = new Error('RUN exited 1');
    await h.fail('mid', boom);
    expect(h.pending.has('sibling')).toBe(true);
    await h.finish('sibling');
    await h.finish('sibling-child');
    const outcomes = await result;
    expect(outcomes.get('mid')).toMatchObject({ status: 'failed', error: boom });
    expect(outcomes.get('leaf1')).toEqual({ status: 'skipped', reason: 'parent mid failed' });
    expect(outcomes.get('leaf2')).toEqual({ status: 'skipped', reason: 'parent mid failed' });
    expect(outcomes.get('sibling-child')?.status).toBe('done');
    expect(h.events.filter((e) => e.type === 'skipped').map((e) => e.name)).toEqual(['leaf1', 'leaf2']);
  });

  it('treats a synchronous throw as a failure', async () => {
    const outcomes = await runDag(
      [t('a'), t('b', 'a')],
      () => {
        throw new Error('sync');
      },
      { concurrency: 1 },
    );
    expect(outcomes.get('a')?.status).toBe('failed');
    expect(outcomes.get('b')).toEqual({ status: 'skipped', reason: 'parent a failed' });
  });

  it('on abort stops launching, aborts running tasks and marks the rest cancelled', async () => {
    const h = harness();
    const controller = new AbortController();
    const tasks = [t('a'), t('b'), t('c'), t('a-child', 'a')];
    const result = runDag(tasks, h.run, { concurrency: 2, signal: controller.signal, onEvent: h.onEvent });
    await h.flush();
    expect(h.started()).toEqual(['a', 'b']);
    controller.abort();
    await h.flush();
    const outcomes = await result;
    expect(h.signals.get('a')?.aborted).toBe(true);
    expect(h.signals.get('b')?.aborted).toBe(true);
    expect(h.started()).toEqual(['a', 'b']);
    for (const name of ['a', 'b', 'c', 'a-child'])
      expect(outcomes.get(name)).toEqual({ status: 'cancelled' });
  });

  it('keeps the value of a task that finishes despite the abort', async () => {
    const controller = new AbortController();
    const outcomes = await runDag(
      [t('a'), t('b', 'a')],
      async () => {
        controller.abort();
        return 42;
      },
      { concurrency: 1, signal: controller.signal },
    );
    expect(outcomes.get('a')).toMatchObject({ status: 'done', value: 42 });
    expect(outcomes.get('b')).toEqual({ status: 'cancelled' });
  });

  it('cancels everything when the signal is already aborted', async () => {
    let calls = 0;
    const outcomes = await runDag(
      [t('a'), t('b', 'a')],
      async () => {
        calls++;
      },
      { concurrency: 2, signal: AbortSignal.abort() },
    );
    expect(calls).toBe(0);
    expect([...outcomes.values()]).toEqual([{ status: 'cancelled' }, { status: 'cancelled' }]);
  });

  it('treats a parent outside the list as no dependency', async () => {
    const outcomes = await runDag([t('keystone', 'keystone-base')], async (name) => name, { concurrency: 1 });
    expect(outcomes.get('keystone')).toMatchObject({ status: 'done', value: 'keystone' });
  });

  it('refuses duplicates, cycles and a bad concurrency', async () => {
    const run = async () => 0;
    await expect(runDag([t('a'), t('a')], run, { concurrency: 1 })).rejects.toThrow(/listed twice/);
    await expect(runDag([t('a', 'b'), t('b', 'a')], run, { concurrency: 1 })).rejects.toThrow(
      /parent cycle among a, b/,
    );
    await expect(runDag([t('a')], run, { concurrency: 0 })).rejects.toThrow(RangeError);
  });

  it('for any forest: dependencies, cap, every task done, and no idle slot while work is ready', async () => {
    const forest = fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 9 }), fc.boolean()), {
        minLength: 1,
        maxLength: 40,
      })
      .map((rows) =>
        rows.map(([p, weight, isRoot], i) => ({
          name: `t${String(i).padStart(2, '0')}`,
          parent: i === 0 || isRoot ? null : `t${String(p % i).padStart(2, '0')}`,
          weight,
        })),
      );
    await fc.assert(
      fc.asyncProperty(
        forest,
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(3)),
        async (tasks, c, delays) => {
          const done = new Set<string>();
          const started = new Set<string>();
          const finished = new Set<string>();
          const log: string[] = [];
          let runningNow = 0;
          let maxRunning = 0;
          let i = 0;
          const outcomes = await runDag(
            tasks,
            async (name) => {
              const task = tasks.find((x) => x.name === name)!;
              if (task.parent) expect(done.has(task.parent)).toBe(true);
              runningNow++;
              maxRunning = Math.max(maxRunning, runningNow);
              log.push(`+${name}`);
              const ticks = delays[i++ % Math.max(1, delays.length)] ?? 0;
              for (let k = 0; k < ticks; k++) await new Promise((r) => setImmediate(r));
              runningNow--;
              done.add(name);
              log.push(`-${name}`);
            },
            {
              concurrency: c,
              onEvent: (e) => {
                // Work-conserving: when the next task finishes, the scheduler has filled every slot
                // it could since the last one (launches follow a completion in the same turn).
                if (e.type === 'done') {
                  const readyNow = tasks.filter(
                    (x) => !started.has(x.name) && (x.parent === null || finished.has(x.parent)),
                  ).length;
                  expect(started.size - finished.size === c || readyNow === 0).toBe(true);
                  finished.add(e.name);
                }
                if (e.type === 'start') started.add(e.name);
              },
            },
          );
          expect(maxRunning).toBeLessThanOrEqual(c);
          expect([...outcomes.values()].every((o) => o.status === 'done')).toBe(true);
          expect(done.size).toBe(tasks.length);
        },
      ),
      { numRuns: 60 },
    );
  });
});
