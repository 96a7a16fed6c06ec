import type Router from '@koa/router';
import type { Services } from '../services.js';

export function registerHealthRoutes(router: Router, services: Services): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok', repositories: services.repositories.names() };
  });
}
