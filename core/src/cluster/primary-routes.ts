import { Agent, request, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ApiError } from '../api/status.js';
import { auditGroup } from '../audit/audit-log.js';
import { opsGroup } from '../ops/core-log-routes.js';
import { extensionsGroup } from '../schemas/extensions.js';

/**
 * Paths only the primary can answer: what lives in its memory (backends' logs from its runtime,
 * its own log buffer), the audit log it writes, and `/metrics` merged over every process.
 */
export function isPrimaryRoute(path: string): boolean {
  return path === '/metrics'
    || path.startsWith(`/kapis/${auditGroup}/`)
    || path === `/kapis/${opsGroup}/v1alpha1/logs`
    || (path.startsWith(`/kapis/${extensionsGroup}/v1alpha1/extensions/`) && path.endsWith('/logs'));
}

/**
 * A worker's front: requests to primary routes are streamed to the primary's loopback listener
 * (which authenticates, authorizes and audits them as any request); the rest go to `fallback`.
 */
export class PrimaryRoutes {
  private primaryUrl?: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  /** Set once the worker's core (and its logger) exists. */
  logger?: Logger;

  constructor(logger?: Logger) {
    this.logger = logger;
  }

  /** Where the primary listens (told once it does). */
  setPrimary(url: string): void {
    this.primaryUrl = new URL(url);
  }

  listener(fallback: RequestListener): RequestListener {
    return (req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if (!isPrimaryRoute(q < 0 ? url : url.slice(0, q))) {
        fallback(req, res);
        return;
      }
      this.forward(req, res);
    };
  }

  close(): void {
    this.agent.destroy();
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const target = this.primaryUrl;
    if (!target) {
      unavailable(res, 'the primary process is starting');
      return;
    }
    const up = request({
      hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: this.agent,
    }, (upRes: IncomingMessage) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.rawHeaders);
      upRes.pipe(res);
      upRes.once('error', () => res.destroy());
    });
    up.on('error', (e) => {
      this.logger?.warn({ event: 'cluster.primary-unreachable', err: e.message }, 'could not reach the primary process');
      if (res.headersSent) res.destroy();
      else unavailable(res, `the primary process cannot be reached: ${e.message}`);
    });
    res.once('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }
}

function unavailable(res: ServerResponse, message: string): void {
  const body = JSON.stringify(new ApiError(503, 'ServiceUnavailable', message, { retryAfterSeconds: 1 }).toStatus());
  res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'retry-after': '1' });
  res.end(body);
}
