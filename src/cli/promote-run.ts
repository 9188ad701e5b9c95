// Carrying out an approved promotion and saying what it did, per target. Loaded only when the
// plan has changes (commands/promote.ts): the copy engine, the deletion guard, the journal and
// retention are code a no-op promotion never runs.
import { formatBytes } from '../format-bytes.js';
import { applyPromotion, type PromoteApplyRequest } from '../promote/apply.js';
import { out } from './io.js';

export async function carryOut(
  request: PromoteApplyRequest & { say?: (line: string) => void },
): Promise<void> {
  const say = request.say ?? out;
  for (const o of await applyPromotion(request)) {
    const t = o.totals;
    say(
      `${o.target}: ${t.blobsUploaded} blob(s) sent (${formatBytes(t.bytesUploaded)}), ${t.blobsMounted} mounted, ${t.blobsPresent} already there; ${t.manifestsPut} manifest(s); ${o.referrersCopied} referrer(s); ${o.flip.tags} tag(s) written together in ${o.flip.windowMs} ms${o.retention ? `; retention deleted ${o.retention.deleted}` : ''}.`,
    );
    // A deletion the plan showed that the re-check kept (a tag reached it since), with why.
    for (const kept of o.retention?.kept ?? []) say(`  ${o.target}: retention kept ${kept}`);
  }
}
