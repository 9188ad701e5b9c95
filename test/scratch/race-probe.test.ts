import { afterAll, beforeAll, it } from 'vitest';
import { loadTree } from '../../src/plan/desired.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { applyRetention } from '../../src/retention/apply.js';
import { planRetentionDetailed } from '../../src/retention/index.js';
import { OCI_MANIFEST } from '../../src/registry/media-types.js';
import { writeTagsGuarded } from '../../src/registry/deletion-guard.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { day, pushVersion, writeConfig } from '../integration/retention-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;
beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
});
afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
});

it('probe', async () => {
  const logAt = (await registry.log()).length;
  const ROUNDS = Number(process.env.ROUNDS ?? 60);
  let failedWrites = 0; let lost = 0, writes = 0, saved = 0, late = 0;
  const durations: number[] = [];
  const windows: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const repo = `ns/r${round}`;
    const doomed: string[] = [];
    for (let v = 0; v < 10; v++) doomed.push(await pushVersion(client, repo, [`b${v}`], day(v)));
    for (let v = 10; v < 12; v++) await pushVersion(client, repo, [`b${v}`], day(v));
    const manifests = new Map<string, Buffer>();
    for (const d of doomed) manifests.set(d, (await client.getManifest(repo, d)).bytes);
    const tree = await writeConfig(registry.host, `  - extra_repositories: ["${repo}"]\n    keep_last: 2`);
    const { config } = await loadTree(tree.file);
    await tree.remove();
    const plan = await planRetentionDetailed(config, [], client, new Date(), { cacheDir: false });
    const span = durations.length ? durations.reduce((a, b) => a + b) / durations.length : 60;
    const written: Array<{ tag: string; digest: string }> = [];
    const racer = async () => {
      const jobs = [];
      for (let k = 0; k < 4; k++) {
        const d = doomed[Math.floor(Math.random() * doomed.length)]!;
        const tag = `w${k}`;
        jobs.push((async () => {
          await new Promise((r) => setTimeout(r, Math.random() * span));
          try {
            if (process.env.GUARD) await writeTagsGuarded(client, repo, d, [tag]);
            else await client.putManifest(repo, tag, manifests.get(d)!, OCI_MANIFEST);
          } catch (e) { failedWrites++; return; }
          written.push({ tag, digest: d });
        })());
      }
      await Promise.all(jobs);
    };
    const start = performance.now();
    let applied;
    try {
      [applied] = await Promise.all([applyRetention(plan.deletions, client), racer()]);
    } catch (e) {
      const log = (await registry.log()).split('\n').filter((l) => /DELETE| 400 |level=error|err\./.test(l));
      console.log(log.slice(-15).join('\n'));
      throw e;
    }
    durations.push(performance.now() - start);
    for (const r of applied.results) if (r.window) windows.push(r.window.checkStartToAnswer);
    saved += applied.results.filter((r) => r.status === 'aborted').length;
    for (const w of written) {
      writes++;
      const head = await client.headManifest(repo, w.tag);
      if (!head) lost++;
      else if (head.digest !== w.digest) late++;
    }
  }
  windows.sort((a, b) => a - b);
  console.log(JSON.stringify({ failedWrites, lost, writes, saved, late, meanDuration: durations.reduce((a, b) => a + b) / durations.length, windowMedian: windows[Math.floor(windows.length / 2)], p99: windows[Math.floor(windows.length * 0.99)] }));
}, 600_000);
