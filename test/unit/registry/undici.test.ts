// src/registry/transport/undici.ts loads undici's Pool, Agent and request API by path instead of
// through its index: if an undici update moves them, this fails before any user sees it.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, Pool, parseHeaders, request } from '../../../src/registry/transport/undici.js';

let server: Server;
let origin: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(req.method === 'HEAD' ? undefined : `${req.method} ${req.url} ${body}`);
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.close();
});

describe('undici loaded by path', () => {
  it('Pool sends requests, and pipelines HEADs', async () => {
    const pool = new Pool(origin, { connections: 1, pipelining: 4 });
    const heads = await Promise.all(
      [1, 2, 3, 4].map(async (i) => {
        const r = await pool.request({ origin, path: `/h${i}`, method: 'HEAD', reset: false });
        await r.body.dump();
        return r.statusCode;
      }),
    );
    expect(heads).toEqual([200, 200, 200, 200]);
    const got = await pool.request({ origin, path: '/x?y=1', method: 'GET' });
    expect(await got.body.text()).toBe('GET /x?y=1 ');
    await pool.close();
  });

  it('parseHeaders turns raw header pairs into lower-cased names, repeated ones into a list', () => {
    const raw = ['Docker-Content-Digest', 'sha256:1', 'Link', '<a>', 'link', '<b>'].map((s) =>
      Buffer.from(s),
    );
    expect(parseHeaders(raw)).toEqual({ 'docker-content-digest': 'sha256:1', link: ['<a>', '<b>'] });
  });

  it('request() goes through a given Agent, or the global dispatcher, with its body', async () => {
    const agent = new Agent();
    const viaAgent = await request(`${origin}/a`, { method: 'POST', body: 'hi', dispatcher: agent });
    expect(await viaAgent.body.text()).toBe('POST /a hi');
    const viaGlobal = await request(new URL(`${origin}/b?c=d`));
    expect(viaGlobal.statusCode).toBe(200);
    expect(await viaGlobal.body.text()).toBe('GET /b?c=d ');
    await agent.close();
    expect(seen).toContain('POST /a');
  });
});
