// The registry's floor for a promotion, as a fresh process:
//   node bench/lib/bare-promote.mjs SOURCE_HOST TARGET_HOST PLAN.json
// PLAN: { images: [{ source, target, digest, mediaType, manifest (base64), tags }] }, the release's
// manifests handed over up front (arbor reads them from its digest cache). It sends only what the
// distribution API requires, on bare undici Pools (8 connections, pipelined 8 deep), nothing
// checked twice, no journal, record or guard:
//   - a HEAD per tag asking "still this manifest?" (If-None-Match, as arbor asks);
//   - for an image none of whose tags names its manifest: a HEAD per blob, each missing blob
//     streamed from the source (GET, then POST + PUT at the target), the manifest PUT by digest —
//     images start this as soon as their own tag HEADs are answered;
//   - then every tag that does not name its manifest, PUT in one burst.
// Timed from the outside, it is the least any Node command line pays for the same promotion (with
// the V8 settings of bin/arbor.js).
// bin/arbor.js's V8 settings, made before undici compiles its parser (imports run in order).
import '../../bin/v8-settings.js';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const [sourceHost, targetHost, planFile] = process.argv.slice(2);
const { images } = JSON.parse(readFileSync(planFile, 'utf8'));
const source = new Pool(`http://${sourceHost}`, { connections: 8, pipelining: 8 });
const target = new Pool(`http://${targetHost}`, { connections: 8, pipelining: 8 });

async function send(pool, options) {
  const r = await pool.request({ reset: false, ...options });
  const body = options.method === 'GET' ? Buffer.from(await r.body.arrayBuffer()) : await r.body.dump();
  return { status: r.statusCode, headers: r.headers, body };
}

async function copyBlob(image, digest) {
  const blob = await send(source, { method: 'GET', path: `/v2/${image.source}/blobs/${digest}` });
  const started = await send(target, { method: 'POST', path: `/v2/${image.target}/blobs/uploads/` });
  const location = new URL(started.headers.location, `http://${targetHost}`);
  location.searchParams.set('digest', digest);
  const put = await send(target, {
    method: 'PUT',
    path: `${location.pathname}${location.search}`,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.body.length) },
    body: blob.body,
  });
  if (put.status !== 201) throw new Error(`upload of ${digest} to ${image.target}: ${put.status}`);
}

/** Observes one image and, when the target lacks its manifest, copies it; returns the tags to PUT. */
async function promoteImage(image) {
  const manifest = Buffer.from(image.manifest, 'base64');
  const answers = await Promise.all(
    image.tags.map((tag) =>
      send(target, {
        method: 'HEAD',
        path: `/v2/${image.target}/manifests/${tag}`,
        headers: { accept: image.mediaType, 'if-none-match': `"${image.digest}"` },
      }),
    ),
  );
  const names = (a) =>
    a.status === 304 || (a.status === 200 && a.headers['docker-content-digest'] === image.digest);
  if (!answers.some(names)) {
    const { config, layers } = JSON.parse(manifest.toString('utf8'));
    await Promise.all(
      [config, ...layers].map(async ({ digest }) => {
        const head = await send(target, { method: 'HEAD', path: `/v2/${image.target}/blobs/${digest}` });
        if (head.status !== 200) await copyBlob(image, digest);
      }),
    );
    const put = await send(target, {
      method: 'PUT',
      path: `/v2/${image.target}/manifests/${image.digest}`,
      headers: { 'content-type': image.mediaType },
      body: manifest,
    });
    if (put.status !== 201) throw new Error(`manifest of ${image.target}: ${put.status}`);
  }
  return image.tags.filter((_, i) => !names(answers[i])).map((tag) => ({ image, manifest, tag }));
}

// Milliseconds since the process started (performance.now's origin), for the phases.
const phases = { firstRequest: Math.round(performance.now()) };
const flips = (await Promise.all(images.map(promoteImage))).flat();
phases.copied = Math.round(performance.now());
await Promise.all(
  flips.map(async ({ image, manifest, tag }) => {
    const put = await send(target, {
      method: 'PUT',
      path: `/v2/${image.target}/manifests/${tag}`,
      headers: { 'content-type': image.mediaType },
      body: manifest,
    });
    if (put.status !== 201) throw new Error(`tag ${image.target}:${tag}: ${put.status}`);
  }),
);
phases.flipped = Math.round(performance.now());
await Promise.all([source.close(), target.close()]);
process.stdout.write(`${JSON.stringify({ tagsWritten: flips.length, phases })}\n`);
