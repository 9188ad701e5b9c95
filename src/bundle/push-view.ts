// How a push plan and its outcome read: text for a person (one line per image that changes, a
// summary), JSON for machines (formatVersion 1). Pure.
import { listBriefly } from '../errors.js';
import { formatBytes } from '../plan/views/markdown.js';
import type { BundleToc } from './format.js';
import type { PushReport } from './push.js';
import type { ImagePlan, PushPlan } from './push-plan.js';

const short = (digest: string) => `${digest.slice(0, 19)}…`;

export function describeBundle(where: string, toc: BundleToc, images: number): string {
  const bytes = toc.blobs.reduce((n, b) => n + b.size, 0);
  const what = [
    toc.release !== undefined ? `release ${toc.release}` : undefined,
    toc.since ? `update since ${toc.since.release}` : undefined,
    `${images} images`,
    `${toc.blobs.length} blobs`,
    formatBytes(bytes),
  ].filter(Boolean);
  return `${where} (${what.join(', ')}) from ${toc.source}`;
}

export function renderPushPlan(plan: PushPlan, bundle: string): string {
  const width = Math.max(...plan.images.map((i) => i.name.length), 4);
  const lines = [`Push ${bundle} to ${plan.target}:`];
  for (const image of plan.images) lines.push(imageLine(image, width));
  const byImage = new Map<string, PushPlan['missing']>();
  for (const m of plan.missing) byImage.set(m.image, [...(byImage.get(m.image) ?? []), m]);
  for (const [image, list] of byImage)
    lines.push(
      `! ${image.padEnd(width)}  lacks ${list.length} blob(s) left out of this update bundle (${formatBytes(list.reduce((n, m) => n + m.size, 0))}), e.g. ${list[0]!.digest}`,
    );
  const s = plan.summary;
  lines.push(
    '',
    `Plan: ${s.images - s.unchanged} of ${s.images} images to push (${s.manifests} manifests); ` +
      `${s.upload.blobs} blobs to upload (${formatBytes(s.upload.bytes)}), ${s.mount} to mount, ${s.present} already there; ` +
      `${s.tags} tags to write.`,
  );
  return lines.join('\n');
}

function imageLine(image: ImagePlan, width: number): string {
  const changed = image.manifestsToPut > 0;
  const mark = changed ? '+' : image.tags.length > 0 ? '~' : '=';
  const tags = [
    ...image.tags.map((t) => (t.from ? `${t.tag} (from ${short(t.from)})` : t.tag)),
    ...(image.tags.length > 0 && image.unchangedTags.length > 0
      ? [`${image.unchangedTags.length} unchanged`]
      : []),
  ];
  const blobs = changed
    ? [
        image.upload.blobs > 0 ? `${image.upload.blobs} to upload (${formatBytes(image.upload.bytes)})` : '',
        image.mount > 0 ? `${image.mount} to mount` : '',
        image.present > 0 ? `${image.present} there` : '',
      ].filter(Boolean)
    : [];
  const what =
    !changed && image.tags.length === 0
      ? 'unchanged'
      : [
          blobs.length > 0 ? `blobs: ${blobs.join(', ')}` : '',
          tags.length > 0 ? `tags: ${tags.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ');
  return `${mark} ${image.name.padEnd(width)}  ${what}`;
}

export function renderPushReport(report: PushReport): string {
  const t = report.totals;
  return [
    `Push: ${t.manifestsPut} manifests put; blobs: ${t.blobsUploaded} uploaded (${formatBytes(t.bytesUploaded)}), ` +
      `${t.blobsMounted} mounted, ${t.blobsPresent} already there` +
      (report.referrersListed > 0 ? `; ${report.referrersListed} referrers listed in fallback indexes` : '') +
      '.',
    report.flip.tags > 0
      ? `Tags: ${report.flip.tags} written together in ${report.flip.windowMs} ms.`
      : 'Tags: none to write.',
    ...(report.record
      ? [
          `Release ${report.record.release} ${report.record.written ? 'recorded' : 'record unchanged'}: ${report.record.where}.`,
        ]
      : []),
  ].join('\n');
}

export function pushPlanJson(plan: PushPlan) {
  return {
    target: plan.target,
    images: plan.images.map((i) => ({
      name: i.name,
      repository: i.repository,
      digest: i.digest,
      manifestsToPut: i.manifestsToPut,
      upload: i.upload,
      mount: i.mount,
      present: i.present,
      tags: i.tags.map((t) => ({ tag: t.tag, from: t.from, to: t.to })),
      unchangedTags: i.unchangedTags,
    })),
    missing: plan.missing,
    summary: plan.summary,
  };
}

/** The refusal of an update bundle whose earlier release the target lacks, in one line. */
export function missingMessage(plan: PushPlan, where: string, since: string): string {
  const blobs = new Set(plan.missing.map((m) => m.digest));
  const images = [...new Set(plan.missing.map((m) => m.image))];
  const first = plan.missing[0]!;
  return (
    `${where} is an update bundle since ${since}, and ${plan.target} lacks ${blobs.size} of the blobs it left out ` +
    `(images ${listBriefly(images)}; e.g. ${first.digest} of ${first.image}): push the bundle of ${since} there first. Nothing was pushed.`
  );
}
