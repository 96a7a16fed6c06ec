import { request, type IncomingMessage } from 'node:http';
import { shorten } from './log-lines.js';

const HEALTH_BODY_CHARS = 200;

/** One GET of the health path (at `url`, or on the Unix socket `socketPath`): undefined on 2xx, else why not. */
export function probeHealth(url: string, path: string, timeoutMs: number, socketPath?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    let res: IncomingMessage | undefined;
    const finish = (why: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(why);
      req.destroy();
    };
    const req = request(`${url}${path}`, { method: 'GET', agent: false, headers: { 'user-agent': 'mortise-runtime' }, ...(socketPath ? { socketPath } : {}) }, (r) => {
      res = r;
      const code = r.statusCode ?? 0;
      if (code >= 200 && code < 300) {
        r.resume();
        r.once('end', () => finish(undefined));
        r.once('error', () => finish(undefined));
        return;
      }
      let body = '';
      r.setEncoding('utf8');
      // A 401 means the path is behind the identity check: the backend serves another health path.
      const hint = code === 401 ? ' (the health path must answer without an identity: the SDK serves the one in MORTISE_HEALTH_PATH, set from backend.healthPath)' : '';
      const answered = () => finish(`GET ${path} answered ${code}${body.trim() ? `: ${shorten(body.trim().replace(/\s+/g, ' '), HEALTH_BODY_CHARS)}` : ''}${hint}`);
      r.on('data', (d: string) => {
        body += d;
        if (body.length >= 4 * HEALTH_BODY_CHARS) answered();
      });
      r.once('end', answered);
      r.once('error', answered);
    });
    const timer = setTimeout(() => {
      // Headers with a 2xx status and a body that never ends still count as an answer.
      if (res && (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) finish(undefined);
      else finish(`GET ${path} timed out after ${timeoutMs} ms`);
    }, timeoutMs);
    timer.unref();
    req.once('error', (e: NodeJS.ErrnoException) => finish(`GET ${path} failed: ${e.code ?? e.message}`));
    req.end();
  });
}
