import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { BackendLog } from './errors.js';

// The runtime's MORTISE_SOCKET: the same app served on a Unix socket as well as on PORT. The core
// runs on the same machine as a process backend and sends its requests there: a request over a
// Unix socket costs the backend and the proxy a good deal less than over loopback TCP
// (docs/benchmarks.md), and only the core's own user can connect to it. PORT stays: the health
// checks, websockets and anything else that speaks TCP use it.

/** Serves `handler` on the socket at `path`; undefined (logged) when it cannot, the backend then serves on PORT only. */
export async function listenOnSocket(path: string, handler: RequestListener, keepAliveTimeoutMs: number, log: BackendLog): Promise<Server | undefined> {
  // A socket left by an earlier process of this backend (killed before it could remove it). The
  // core's runtime removes it before the start, and a confined backend may not look.
  removeSocketFile(path);
  const server = createServer(handler);
  server.keepAliveTimeout = keepAliveTimeoutMs;
  return new Promise((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      log('warn', `cannot listen on ${path} (${e.code ?? e.message}); serving on PORT only`, { event: 'socket-unavailable', path });
      resolve(undefined);
    });
    server.listen(path, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

/** A socket file at `path` goes (a path a next process of the backend reuses), where the backend may remove it. */
export function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path, { throwIfNoEntry: false })?.isSocket()) unlinkSync(path);
  } catch {
    // already gone, or the directory with it
  }
}
