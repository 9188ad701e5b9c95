// The DAG scheduler of apply: generic over what a task does, free of I/O, so it is tested with
// plain promises. A task starts only after its parent is done; at most `concurrency` tasks run;
// among ready tasks the one with the longest remaining path (its weight plus the heaviest chain of
// descendants below it) goes first, so the critical path never waits behind short side branches.

export interface Task {
  name: string;
  /** A task of the same list; a parent that is not in the list is no dependency (already built). */
  parent: string | null;
  /** Expected duration in any unit; default 1. Only the ordering uses it. */
  weight?: number;
}

export type TaskOutcome<T> =
  | { status: 'done'; value: T; ms: number }
  | { status: 'failed'; error: unknown; ms: number }
  | { status: 'skipped'; reason: string }
  | { status: 'cancelled' };

export type SchedulerEvent =
  | { type: 'start'; name: string }
  | { type: 'done'; name: string; ms: number }
  | { type: 'failed'; name: string; error: unknown; ms: number }
  | { type: 'skipped'; name: string; reason: string }
  | { type: 'cancelled'; name: string };

export interface RunDagOptions {
  concurrency: number;
  /** Abort (Ctrl-C): stop launching, abort running tasks, mark the rest cancelled. */
  signal?: AbortSignal;
  /** Called synchronously for every state change; must not throw (if it does, runDag rejects at the end). */
  onEvent?: (e: SchedulerEvent) => void;
}

interface Node {
  task: Task;
  parent: Node | null;
  children: Node[];
  /** Own weight plus the heaviest chain of descendants. */
  remaining: number;
}

/** Runs every task once its parent is done and resolves with one outcome per task, in input order. */
export async function runDag<T>(
  tasks: Task[],
  run: (name: string, signal: AbortSignal) => Promise<T>,
  options: RunDagOptions,
): Promise<Map<string, TaskOutcome<T>>> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
  }
  const nodes = buildNodes(tasks);
  const outcomes = new Map<string, TaskOutcome<T>>();
  let listenerError: { error: unknown } | undefined;
  const emit = (e: SchedulerEvent) => {
    try {
      options.onEvent?.(e);
    } catch (error) {
      listenerError ??= { error };
    }
  };

  const ready: Node[] = [];
  const addReady = (node: Node) => {
    const at = ready.findIndex((other) => comparePriority(node, other) < 0);
    ready.splice(at === -1 ? ready.length : at, 0, node);
  };
  for (const node of nodes.values()) if (!node.parent) addReady(node);

  const running = new Map<string, AbortController>();
  const signal = options.signal;

  await new Promise<void>((resolve) => {
    const finishIfIdle = () => {
      if (running.size > 0) return;
      if (ready.length > 0 && !signal?.aborted) return;
      // Idle: everything reachable ran, or an abort stopped launching. The rest never starts.
      for (const node of nodes.values()) {
        if (!outcomes.has(node.task.name)) {
          outcomes.set(node.task.name, { status: 'cancelled' });
          emit({ type: 'cancelled', name: node.task.name });
        }
      }
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };

    const onAbort = () => {
      for (const controller of running.values()) controller.abort(signal?.reason);
      finishIfIdle();
    };

    const skipDescendants = (failed: Node) => {
      const reason = `parent ${failed.task.name} failed`;
      const stack = [...failed.children].reverse();
      while (stack.length > 0) {
        const node = stack.pop()!;
        outcomes.set(node.task.name, { status: 'skipped', reason });
        emit({ type: 'skipped', name: node.task.name, reason });
        stack.push(...[...node.children].reverse());
      }
    };

    const settle = (node: Node, outcome: TaskOutcome<T>) => {
      const name = node.task.name;
      running.delete(name);
      outcomes.set(name, outcome);
      if (outcome.status === 'done') {
        emit({ type: 'done', name, ms: outcome.ms });
        for (const child of node.children) addReady(child);
      } else if (outcome.status === 'failed') {
        emit({ type: 'failed', name, error: outcome.error, ms: outcome.ms });
        skipDescendants(node);
      } else if (outcome.status === 'cancelled') {
        emit({ type: 'cancelled', name });
      }
      launch();
      finishIfIdle();
    };

    const start = (node: Node) => {
      const name = node.task.name;
      const controller = new AbortController();
      running.set(name, controller);
      emit({ type: 'start', name });
      const began = performance.now();
      // Promise.resolve().then: a task function that throws synchronously fails like a rejection.
      Promise.resolve()
        .then(() => run(name, controller.signal))
        .then(
          (value) => settle(node, { status: 'done', value, ms: performance.now() - began }),
          (error: unknown) =>
            settle(
              node,
              controller.signal.aborted
                ? { status: 'cancelled' }
                : { status: 'failed', error, ms: performance.now() - began },
            ),
        );
    };

    const launch = () => {
      while (!signal?.aborted && running.size < options.concurrency && ready.length > 0) {
        start(ready.shift()!);
      }
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    launch();
    finishIfIdle();
  });

  if (listenerError) throw listenerError.error;
  const ordered = new Map<string, TaskOutcome<T>>();
  for (const task of tasks) ordered.set(task.name, outcomes.get(task.name)!);
  return ordered;
}

/** Longest remaining path first, then name, so equal inputs always run in the same order. */
function comparePriority(a: Node, b: Node): number {
  if (a.remaining !== b.remaining) return b.remaining - a.remaining;
  return a.task.name < b.task.name ? -1 : a.task.name > b.task.name ? 1 : 0;
}

function buildNodes(tasks: Task[]): Map<string, Node> {
  const nodes = new Map<string, Node>();
  for (const task of tasks) {
    if (nodes.has(task.name)) throw new Error(`scheduler: task "${task.name}" is listed twice`);
    const weight = task.weight ?? 1;
    if (!Number.isFinite(weight) || weight < 0) {
      throw new RangeError(`scheduler: task "${task.name}" has invalid weight ${weight}`);
    }
    nodes.set(task.name, { task, parent: null, children: [], remaining: weight });
  }
  for (const node of nodes.values()) {
    const parent = node.task.parent === null ? undefined : nodes.get(node.task.parent);
    if (parent) {
      node.parent = parent;
      parent.children.push(node);
    }
  }
  // Children in name order: skipped events and ties come out deterministic.
  for (const node of nodes.values()) node.children.sort(comparePriorityByName);
  computeRemaining(nodes);
  return nodes;
}

function comparePriorityByName(a: Node, b: Node): number {
  return a.task.name < b.task.name ? -1 : a.task.name > b.task.name ? 1 : 0;
}

/** Fills `remaining` bottom-up; a parent cycle would never become ready, so it is refused here. */
function computeRemaining(nodes: Map<string, Node>): void {
  const order: Node[] = [];
  const queue = [...nodes.values()].filter((n) => !n.parent);
  while (queue.length > 0) {
    const node = queue.pop()!;
    order.push(node);
    queue.push(...node.children);
  }
  if (order.length !== nodes.size) {
    const stuck = [...nodes.values()].filter((n) => !order.includes(n)).map((n) => n.task.name);
    throw new Error(`scheduler: parent cycle among ${stuck.sort().join(', ')}`);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    const below = Math.max(0, ...node.children.map((c) => c.remaining));
    node.remaining = (node.task.weight ?? 1) + below;
  }
}
