// A delaying link (byte-proxy.mjs) in a process of its own: a benchmark that runs the command it
// times with spawnSync blocks its own event loop meanwhile, and a proxy inside it would stall.
//   node bench/lib/link-process.mjs UPSTREAM_PORT DELAY_MS   → prints 127.0.0.1:PORT, then serves
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startByteProxy } from './byte-proxy.mjs';

/** Starts the link as a child process; `stop()` ends it. */
export async function startLinkProcess(upstreamPort, delayMs) {
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), String(upstreamPort), String(delayMs)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  while (!out.includes('\n')) {
    const [chunk] = await once(child.stdout, 'data');
    out += chunk;
  }
  return {
    host: out.trim(),
    async stop() {
      child.kill();
      await once(child, 'exit');
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const link = await startByteProxy(Number(process.argv[2]), { delayMs: Number(process.argv[3]) });
  process.stdout.write(`${link.host}\n`);
}
