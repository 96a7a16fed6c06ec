import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// An endpoint that answers 500 to one path and 200 to any other, counting the requests of each
// service (by Host, which both planes send on as <service>.<namespace>): what the outlier
// detection tests of both planes use to fail one service's traffic at an address another shares.

export interface PathFailingEndpoint {
  url: string;
  server: Server;
  /** Requests seen with this Host. */
  hits(host: string): number;
}

/** Started on a free port of 127.0.0.1; the caller closes `server`. */
export async function pathFailingEndpoint(failingPath: string): Promise<PathFailingEndpoint> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const host = String(req.headers.host);
    hits.set(host, (hits.get(host) ?? 0) + 1);
    res.writeHead(req.url === failingPath ? 500 : 200);
    res.end(req.url === failingPath ? 'failed' : 'ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: (host) => hits.get(host) ?? 0 };
}
