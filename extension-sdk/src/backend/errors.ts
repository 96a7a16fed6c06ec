import type { Context, Next } from 'koa';
import { CoreApiError } from './core-client.js';
import { backendStatus } from './status.js';

/** A backend's log: one JSON object per line on stderr, which the core keeps as the extension's log. */
export type BackendLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export function jsonLog(extension: string): BackendLog {
  return (level, msg, fields) => {
    process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), extension, msg, ...fields })}\n`);
  };
}

/** Node's permission model refusing a write (the runtime lets a backend write only its data dir). */
function deniedWrite(e: unknown): string | undefined {
  const err = e as { code?: unknown; permission?: unknown; resource?: unknown };
  if (err?.code !== 'ERR_ACCESS_DENIED' || err.permission !== 'FileSystemWrite') return undefined;
  return typeof err.resource === 'string' ? err.resource : 'a path';
}

/**
 * Every error leaves as a Status and is logged: unmatched routes are 404; a call the core refused
 * because the service account lacks a permission is a 403 naming it (the manifest's
 * `permissions` decide); a write outside the data dir says so; anything else is a 500 whose
 * details stay in the log.
 */
export function errorResponder(o: { name: string; dataDir: string; log: BackendLog }) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 404;
        ctx.body = backendStatus(404, `${ctx.method} ${ctx.path} is not served by this extension`);
      }
    } catch (e) {
      const request = { method: ctx.method, path: ctx.path };
      if (e instanceof CoreApiError && e.code === 403) {
        const message = `the extension ${o.name} may not ${e.method ?? 'call'} ${e.path ?? 'this core API'}: ${e.status?.message ?? e.message}`
          + ` (its service account holds only the permissions its extension.yaml declares)`;
        o.log('warn', message, { event: 'permission-denied', request, core: { method: e.method, path: e.path } });
        ctx.status = 403;
        ctx.body = backendStatus(403, message, e.status?.details);
        return;
      }
      const denied = deniedWrite(e);
      if (denied) {
        const message = `the extension ${o.name} tried to write ${denied}, outside its data directory; a backend may write only under ${o.dataDir} (MORTISE_DATA_DIR, backend.dataDir)`;
        o.log('error', message, { event: 'write-denied', request, path: denied });
        ctx.status = 500;
        ctx.body = backendStatus(500, message);
        return;
      }
      const err = e as { status?: number; expose?: boolean; message?: string; stack?: string };
      const code = typeof err.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
      if (code >= 500) o.log('error', `${ctx.method} ${ctx.path} failed: ${err.message ?? String(e)}`, { event: 'request-failed', request, stack: err.stack });
      const message = err.expose || code < 500 ? (err.message ?? 'request failed') : "an internal error occurred; see the extension's log (mortise extension logs " + o.name + ')';
      ctx.status = code;
      ctx.body = backendStatus(code, message);
    }
  };
}
