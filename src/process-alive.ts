// Whether a process of this machine still runs: how arbor tells what a killed run left behind
// (a lock, a temporary file, an unpack's work directory) from what a running one is using.

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
