// A loopback TCP proxy that counts the bytes crossing it each way: the "WAN link" between a site
// and the central registry. TCP-level, so every byte of HTTP (headers, bodies, chunking) counts,
// whatever the client is (arbor, skopeo).
//
//   const link = await startByteProxy(centralPort);   // link.host = 127.0.0.1:PORT
//   const wan = await startByteProxy(port, { delayMs: 10 });  // a 20 ms round trip
//   link.reset(); … ; link.bytes()  // { toSite, toCentral }
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/**
 * `delayMs`: every chunk is held that long in each direction before it is passed on (a link with
 * a round trip of 2 × delayMs; order kept, bandwidth not limited).
 */
export async function startByteProxy(upstreamPort, { delayMs = 0 } = {}) {
  let toSite = 0;
  let toCentral = 0;
  const sockets = new Set();
  // With a delay, half-open both ways: a side's end is passed on (late) instead of closing the
  // other side at once, with answers still on their way.
  const server = createServer({ allowHalfOpen: delayMs > 0 }, (client) => {
    const upstream = connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: delayMs > 0 });
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      toCentral += chunk.length;
    });
    upstream.on('data', (chunk) => {
      toSite += chunk.length;
    });
    if (delayMs > 0) {
      // Timers of one delay fire in the order they were set: the byte stream keeps its order.
      const late = (to) => (chunk) => setTimeout(() => to.writable && to.write(chunk), delayMs);
      client.on('data', late(upstream));
      upstream.on('data', late(client));
      client.on('end', () => setTimeout(() => upstream.end(), delayMs));
      upstream.on('end', () => setTimeout(() => client.end(), delayMs));
    } else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // With a delay, the bytes still on their way are delivered before the other side is closed.
    const later = () => (delayMs > 0 ? setTimeout(close, delayMs + 1) : close());
    client.on('error', later).on('close', later);
    upstream.on('error', later).on('close', later);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    host: `127.0.0.1:${port}`,
    bytes: () => ({ toSite, toCentral }),
    reset() {
      toSite = 0;
      toCentral = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
