// What the target registry holds of a bundle, asked with HEADs only (pipelined by the client):
// every manifest of every image in its repository, every tag, then the blobs of the manifests
// that are missing (a manifest that is there implies its blobs are), and, for an update bundle,
// each left-out blob its repository lacks in every other repository of the bundle (a mount
// source). Nothing is written.
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import type { BundleContent } from './contents.js';
import type { BundleToc } from './format.js';
import { directBlobs, type PushUnit, type TargetState, unitManifests } from './push-plan.js';

export async function observeTarget(
  client: RegistryClient,
  content: BundleContent,
  toc: BundleToc,
  units: PushUnit[],
  concurrency = 32,
): Promise<TargetState> {
  const limit = pLimit(concurrency);
  const manifests = new Set<string>();
  const blobs = new Set<string>();
  const tags = new Map<string, string | null>();

  const manifestChecks = units.flatMap((unit) =>
    unitManifests(content, unit).map((m) =>
      limit(async () => {
        if (await client.headManifest(unit.repository, m.digest))
          manifests.add(`${unit.repository}@${m.digest}`);
      }),
    ),
  );
  const tagChecks = units.flatMap((unit) =>
    unit.image.tags.map((tag) =>
      limit(async () => {
        const head = await client.headManifest(unit.repository, tag);
        tags.set(`${unit.repository}:${tag}`, head?.digest ?? null);
      }),
    ),
  );
  await Promise.all([...manifestChecks, ...tagChecks]);

  const asked = new Set<string>();
  const headBlob = (repository: string, digest: string) => {
    const key = `${repository}@${digest}`;
    if (asked.has(key)) return undefined;
    asked.add(key);
    return limit(async () => {
      if (await client.headBlob(repository, digest)) blobs.add(key);
    });
  };
  const needed: { repository: string; digest: string }[] = [];
  for (const unit of units)
    for (const m of unitManifests(content, unit))
      if (!manifests.has(`${unit.repository}@${m.digest}`))
        for (const b of directBlobs(m)) needed.push({ repository: unit.repository, digest: b.digest });
  await Promise.all(needed.map((n) => headBlob(n.repository, n.digest)));

  // Left-out blobs not where they are needed: look for them in every other repository of the bundle.
  const omitted = new Set(toc.since?.omitted.map((b) => b.digest) ?? []);
  const repositories = [...new Set(units.map((u) => u.repository))];
  const held = (digest: string) => [...blobs].some((k) => k.endsWith(`@${digest}`));
  const lacking = [
    ...new Set(
      needed
        .filter((n) => omitted.has(n.digest) && !blobs.has(`${n.repository}@${n.digest}`))
        .map((n) => n.digest),
    ),
  ];
  await Promise.all(
    lacking.filter((d) => !held(d)).flatMap((digest) => repositories.map((r) => headBlob(r, digest))),
  );
  return { manifests, blobs, tags };
}
