// The bare-HEAD floor as a fresh process: `node bench/lib/bare-heads.mjs HOST LIST.json` sends
// the HEADs of LIST (an array of [repository, tag]) on one undici Pool (8 connections, pipelined
// 8 deep) and exits. Timed from the outside, it is the least any Node command line pays for the
// same HEADs: process start, loading undici, and a cold JIT, which the in-process floor has not.
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const [host, listFile] = process.argv.slice(2);
const list = JSON.parse(readFileSync(listFile, 'utf8'));
const pool = new Pool(`http://${host}`, { connections: 8, pipelining: 8 });
await Promise.all(
  list.map(async ([repository, tag]) => {
    const r = await pool.request({
      method: 'HEAD',
      path: `/v2/${repository}/manifests/${tag}`,
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      reset: false,
    });
    await r.body.dump();
  }),
);
await pool.close();
