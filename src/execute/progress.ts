// What apply shows while it runs. On a TTY: a live task list (listr2), one row per image with its
// state and elapsed time. Elsewhere (CI logs): one plain line per event, prefixed with the time
// since apply started, e.g. `[  3.2s] keystone: built (1.8s)`. Both end with the same summary.
// The reporter is fed events: the scheduler's own (SchedulerEvent is a subset of ProgressEvent)
// plus apply's steps (build, push, tag) and labelled completions (`built`, `tagged`).
import {
  type DefaultRenderer,
  Listr,
  ListrLogger,
  type ListrTask,
  ProcessOutput,
  type SimpleRenderer,
} from 'listr2';
import { redact } from '../secrets.js';
import { BuildError } from './builders/errors.js';

export type ProgressEvent =
  | { type: 'start'; name: string }
  /** The image's current activity: `build`, `push`, `tag` (shown as building, …) or free text; detail follows. */
  | { type: 'step'; name: string; step: string; detail?: string }
  /** `label` says what was done (`built`, `tagged`, `content unchanged, not pushed`); default `done`. */
  | { type: 'done'; name: string; ms: number; label?: string; detail?: string }
  | { type: 'failed'; name: string; error: unknown; ms: number }
  | { type: 'skipped'; name: string; reason: string }
  | { type: 'cancelled'; name: string };

export interface Progress {
  event(e: ProgressEvent): void;
  /** Stops the live view and prints the summary: counts per outcome, then every failure with its log tail. */
  done(): Promise<void>;
}

export interface ProgressOptions {
  tty: boolean;
  /** Every image apply will report on, in display order (the live list needs them up front). */
  images?: string[];
  /** Where the lines go (default process.stdout). Everything written is redacted. */
  stream?: NodeJS.WriteStream;
  /** For tests: milliseconds since an arbitrary origin (default performance.now). */
  now?: () => number;
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stdout;
  const now = options.now ?? (() => performance.now());
  const write = (text: string) => stream.write(redact(text));
  const ledger = new Ledger();
  const origin = now();
  const live = options.tty ? new LiveList(options.images ?? [], stream, now) : undefined;
  return {
    event(e) {
      ledger.record(e);
      if (live) live.event(e);
      else write(`[${formatSeconds(now() - origin, 5)}] ${describe(e)}\n`);
    },
    async done() {
      await live?.stop();
      write(ledger.summary(now() - origin));
    },
  };
}

/** `keystone: built (1.8s)`: the plain line of one event, without the time prefix. */
export function describe(e: ProgressEvent): string {
  switch (e.type) {
    case 'start':
      return `${e.name}: started`;
    case 'step':
      return `${e.name}: ${stepText(e.step, e.detail)}`;
    case 'done':
      return `${e.name}: ${e.label ?? 'done'} (${formatSeconds(e.ms)})${e.detail ? `, ${e.detail}` : ''}`;
    case 'failed':
      return `${e.name}: failed (${formatSeconds(e.ms)}): ${firstLine(e.error)}`;
    case 'skipped':
      return `${e.name}: skipped (${e.reason})`;
    case 'cancelled':
      return `${e.name}: cancelled`;
  }
}

/** `1.8s`, or padded to a fixed width for the prefix column. */
export function formatSeconds(ms: number, width = 0): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1).padStart(width)}s`;
}

const STEP_VERBS: Record<string, string> = {
  build: 'building',
  push: 'pushing',
  export: 'exporting',
  compress: 'compressing',
  tag: 'tagging',
  run: 'running',
};

/** `pushing 127.0.0.1:5000/openstack/keystone:2025.1` */
export function stepText(step: string, detail?: string): string {
  const verb = STEP_VERBS[step] ?? step;
  return detail ? `${verb} ${detail}` : verb;
}

function firstLine(error: unknown): string {
  if (error instanceof BuildError) {
    return error.message.split('\n')[0]!.replace(/^error: image [^:]+: /, '');
  }
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? '';
}

/** Final state of every image, for the summary. */
class Ledger {
  private readonly finals = new Map<string, ProgressEvent>();

  record(e: ProgressEvent): void {
    if (e.type === 'done' || e.type === 'failed' || e.type === 'skipped' || e.type === 'cancelled') {
      this.finals.set(e.name, e);
    }
  }

  summary(elapsedMs: number): string {
    const counts = new Map<string, number>();
    const rows: string[] = [];
    for (const e of this.finals.values()) {
      const key = e.type === 'done' ? (e.label ?? 'done') : e.type;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (e.type === 'failed') {
        rows.push(`  failed     ${e.name}: ${firstLine(e.error)}`);
        const tail = e.error instanceof BuildError ? e.error.logTail : [];
        for (const line of tail) rows.push(`             | ${line}`);
        if (e.error instanceof BuildError && e.error.logFile)
          rows.push(`             log: ${e.error.logFile}`);
      } else if (e.type === 'skipped') {
        rows.push(`  skipped    ${e.name}: ${e.reason}`);
      } else if (e.type === 'cancelled') {
        rows.push(`  cancelled  ${e.name}`);
      }
    }
    const order = (key: string) => ['failed', 'skipped', 'cancelled'].indexOf(key);
    const parts = [...counts.entries()]
      .sort(([a], [b]) => order(a) - order(b) || (a < b ? -1 : 1))
      .map(([key, n]) => `${n} ${key}`);
    const head = `Apply finished in ${formatSeconds(elapsedMs)}: ${parts.length > 0 ? parts.join(', ') : 'nothing to do'}`;
    return [head, ...rows].join('\n') + '\n';
  }
}

type LiveTask = ListrTask<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;
type LiveWrapper = Parameters<LiveTask['task']>[1];

interface Row {
  name: string;
  wrapper?: LiveWrapper;
  startedAt?: number;
  step: string;
  final?: ProgressEvent;
  settle: () => void;
  settled: Promise<void>;
}

/**
 * The TTY view: a listr2 task per image, all "running" concurrently from listr's point of view
 * while their titles follow the events. The title of a running image is refreshed every second
 * so its elapsed time moves. Colour follows listr2 (colorette), which honours NO_COLOR.
 */
class LiveList {
  private readonly rows = new Map<string, Row>();
  private readonly run: Promise<unknown>;
  private readonly ticker: NodeJS.Timeout;

  constructor(
    images: string[],
    stream: NodeJS.WriteStream,
    private readonly now: () => number,
  ) {
    for (const name of images) {
      let settle = () => {};
      const settled = new Promise<void>((resolve) => {
        settle = resolve;
      });
      this.rows.set(name, { name, step: 'waiting', settle, settled });
    }
    const logger = new ListrLogger({
      useIcons: true,
      toStderr: [],
      processOutput: new ProcessOutput(stream, stream),
    });
    const listr = new Listr<unknown, 'default', 'simple'>(
      [...this.rows.values()].map(
        (row): LiveTask => ({
          title: row.name,
          task: async (_ctx, wrapper) => {
            row.wrapper = wrapper;
            this.paint(row);
            await row.settled;
            this.finish(row);
          },
        }),
      ),
      {
        concurrent: true,
        exitOnError: false,
        registerSignalListeners: false,
        rendererOptions: { collapseErrors: false, showErrorMessage: true, logger },
        // listr2 picks its line renderer when process.stdout is no TTY (apply's output piped while
        // stderr is a terminal): it must write to the same stream.
        fallbackRendererOptions: { logger },
      },
    );
    this.run = listr.run().catch(() => undefined);
    this.ticker = setInterval(() => {
      for (const row of this.rows.values()) if (row.startedAt !== undefined && !row.final) this.paint(row);
    }, 1000);
    this.ticker.unref();
  }

  event(e: ProgressEvent): void {
    const row = this.rows.get(e.name);
    if (!row || row.final) return;
    if (e.type === 'start') {
      row.startedAt = this.now();
      row.step = 'running';
    } else if (e.type === 'step') {
      row.startedAt ??= this.now();
      row.step = stepText(e.step, e.detail);
    } else {
      row.final = e;
      row.settle();
      return;
    }
    this.paint(row);
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    // Whatever never got a final event (apply stopped early, or had nothing to do for it) leaves
    // the list as not run; the summary counts only what apply reported.
    for (const row of this.rows.values()) {
      if (!row.final) {
        row.final = { type: 'skipped', name: row.name, reason: 'not run' };
        row.settle();
      }
    }
    await this.run;
  }

  private paint(row: Row): void {
    if (!row.wrapper) return;
    const elapsed = row.startedAt === undefined ? '' : ` ${formatSeconds(this.now() - row.startedAt)}`;
    row.wrapper.title = redact(`${row.name}: ${row.step}${elapsed}`);
  }

  private finish(row: Row): void {
    const wrapper = row.wrapper!;
    const e = row.final!;
    if (e.type === 'done') wrapper.title = redact(describe(e));
    else if (e.type === 'skipped' && e.reason === 'not run') wrapper.skip(`${e.name}: not run`);
    else if (e.type === 'skipped') wrapper.skip(redact(`${e.name}: skipped (${e.reason})`));
    else if (e.type === 'cancelled') wrapper.skip(`${e.name}: cancelled`);
    else if (e.type === 'failed') {
      wrapper.title = `${e.name}: failed (${formatSeconds(e.ms)})`;
      throw new Error(redact(firstLine(e.error)));
    }
  }
}
