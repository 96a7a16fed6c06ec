import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface StaticServerOptions {
  /** When set, requests must carry exactly this Authorization header. */
  authorization?: string;
  /** Answer with chunked encoding and no Content-Length. */
  chunked?: boolean;
  /** Never answer requests whose path ends like this. */
  hangOn?: string;
}

export interface StaticServer {
  url: string;
  /** Authorization headers seen, in order (undefined when absent). */
  seenAuthorization: Array<string | undefined>;
  close(): Promise<void>;
}

/** A plain file server on 127.0.0.1, as any static host would serve a repository directory. */
export async function startStaticServer(root: string, options: StaticServerOptions = {}): Promise<StaticServer> {
  const seenAuthorization: Array<string | undefined> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seenAuthorization.push(req.headers.authorization);
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (options.hangOn && path.endsWith(options.hangOn)) return;
    if (options.authorization && req.headers.authorization !== options.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic' }).end();
      return;
    }
    const file = join(root, normalize(path));
    stat(file).then(
      (stats) => {
        if (!stats.isFile()) return void res.writeHead(404).end();
        res.writeHead(200, options.chunked ? {} : { 'content-length': stats.size });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seenAuthorization,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
