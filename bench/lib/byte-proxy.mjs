// A loopback TCP proxy that counts the bytes crossing it each way: the "WAN link" between a site
// and the central registry. TCP-level, so every byte of HTTP (headers, bodies, chunking) counts,
// whatever the client is (arbor, skopeo).
//
//   const link = await startByteProxy(centralPort);   // link.host = 127.0.0.1:PORT
//   link.reset(); … ; link.bytes()  // { toSite, toCentral }
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

export async function startByteProxy(upstreamPort) {
  let toSite = 0;
  let toCentral = 0;
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      toCentral += chunk.length;
    });
    upstream.on('data', (chunk) => {
      toSite += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
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
