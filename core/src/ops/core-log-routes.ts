import Router from '@koa/router';
import type { AppContext, AppState } from '../http/app-state.js';
import { logReadParams, serveLogLines } from '../http/log-lines-response.js';
import type { LogBuffer } from './log-buffer.js';

export const opsGroup = 'ops.mortise.io';

/**
 * The core's own log (its JSON lines from `info` up, kept in `<data dir>/logs/core/` within a size
 * cap), read like an extension backend's:
 * `GET /kapis/ops.mortise.io/v1alpha1/logs?tailLines=N&follow=true&timestamps=true&sinceSeq=S&seq=true`.
 * Authorized as `list logs.ops.mortise.io` at cluster scope: platform admins, or whoever a
 * GlobalRole grants it (the logging extension asks for it to keep the core's log as a stream).
 */
export function coreLogRouter(buffer: LogBuffer): Router<AppState> {
  const router = new Router<AppState>();
  router.get(`/kapis/${opsGroup}/v1alpha1/logs`, async (ctx: AppContext) => {
    ctx.state.routeLabel = `kapis/${opsGroup}/logs`;
    await serveLogLines(ctx, {
      read: (q) => buffer.read(q),
      follow: (onLine) => {
        buffer.on('line', onLine);
        return () => buffer.off('line', onLine);
      },
    }, logReadParams(ctx));
  });
  return router;
}
