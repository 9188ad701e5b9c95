// `--debug` lines timing the phases of a command (plan's desired and observed state, apply's
// signing, deltas, release record): where the time of a run goes, without a profiler.
export function phaseTimer(debug: ((line: string) => void) | undefined): (name: string) => void {
  if (!debug) return () => {};
  let last = performance.now();
  return (name) => {
    const now = performance.now();
    debug(`${name}: ${Math.round(now - last)} ms (at ${Math.round(now)} ms since start-up)`);
    last = now;
  };
}
