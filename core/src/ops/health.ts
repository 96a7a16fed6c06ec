import Router, { type RouterContext } from '@koa/router';
import type { AppState } from '../http/app-state.js';
import type { ResourceStore } from '../store/resource-store.js';

/** Liveness (`/healthz`, `/livez`) and readiness (`/readyz`: the store answers, controllers run). */
export function healthRouter(deps: { store: ResourceStore; isReady: () => boolean }): Router<AppState> {
  const router = new Router<AppState>();
  const live = (ctx: RouterContext<AppState>) => {
    ctx.type = 'text/plain';
    ctx.body = 'ok';
  };
  router.get('/healthz', live);
  router.get('/livez', live);
  router.get('/readyz', async (ctx) => {
    const checks: string[] = [];
    let ok = true;
    try {
      await deps.store.currentResourceVersion();
      checks.push('[+]store ok');
    } catch (e) {
      ok = false;
      checks.push(`[-]store failed: ${(e as Error).message}`);
    }
    if (deps.isReady()) checks.push('[+]controllers ok');
    else {
      ok = false;
      checks.push('[-]controllers not started');
    }
    ctx.type = 'text/plain';
    ctx.status = ok ? 200 : 503;
    ctx.body = ok ? 'ok' : `${checks.join('\n')}\nreadyz check failed`;
  });
  return router;
}
