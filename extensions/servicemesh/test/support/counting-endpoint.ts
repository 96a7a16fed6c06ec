import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// An endpoint that answers after `delayMs` and keeps the most requests it held at once: what the
// CircuitBreaker tests of both planes read to tell whether a limit held.

export interface CountingEndpoint {
  url: string;
  server: Server;
  /** The most requests in progress at once since the start or the last reset. */
  peak(): number;
  reset(): void;
}

/** Started on a free port of 127.0.0.1; the caller closes `server`. */
export async function countingEndpoint(delayMs: number): Promise<CountingEndpoint> {
  let now = 0;
  let peak = 0;
  const server = createServer((_req, res) => {
    peak = Math.max(peak, ++now);
    setTimeout(() => {
      now--;
      res.end('ok');
    }, delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, peak: () => peak, reset: () => (peak = 0) };
}
