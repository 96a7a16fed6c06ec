import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import { badRequest, notFound } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { BackendLogLine, Runtime } from '../runtime/runtime.js';
import { extensionsGroup } from '../schemas/extensions.js';

const base = `/kapis/${extensionsGroup}/v1alpha1`;
/** Lines answered when `tailLines` is not given (the runtime keeps at most its ring buffer's size). */
const DEFAULT_TAIL = 100;
const MAX_TAIL = 100_000;

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (value === '1' || value === 'true' || value === '') return true;
  if (value === '0' || value === 'false') return false;
  throw badRequest(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

function tail(value: unknown): number {
  if (value === undefined) return DEFAULT_TAIL;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value) || Number(value) > MAX_TAIL) throw badRequest(`tailLines must be an integer from 0 to ${MAX_TAIL}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * An extension backend's log, as the runtime keeps it (stdout and stderr lines, newest last), like
 * `kubectl logs`: `GET /kapis/extensions.mortise.io/v1alpha1/extensions/{name}/logs?tailLines=N&follow=true&timestamps=true&version=V`.
 * Authorized like the other extension-management APIs (`get` on `extensions/logs`: platform
 * admins, or whoever a role grants it). The backend of the installed version by default.
 */
export function extensionLogRouter(deps: { service: ResourceService; kinds: KindRegistry; runtime: Runtime }): Router<AppState> {
  const router = new Router<AppState>();
  router.get(`${base}/extensions/:name/logs`, async (ctx: AppContext) => {
    const name = (ctx as unknown as { params: { name: string } }).params.name;
    ctx.state.routeLabel = `kapis/${extensionsGroup}/extensions/logs`;
    const q = ctx.query;
    const follow = flag(q.follow, 'follow');
    const timestamps = flag(q.timestamps, 'timestamps');
    const tailLines = tail(q.tailLines);
    if (q.version !== undefined && typeof q.version !== 'string') throw badRequest('version must be given once');
    const plan = await deps.service.getStored(deps.kinds.byGroupResource(extensionsGroup, 'installplans')!, '', name);
    if (!plan) throw notFound(extensionsGroup, 'installplans', name);
    const status = (plan.status ?? {}) as { installedVersion?: string; targetVersion?: string };
    const version = q.version ?? status.installedVersion ?? status.targetVersion;
    if (!version) throw notFound(extensionsGroup, 'extensions/logs', `${name} (no version installed)`);
    const id = `${name}@${version}`;
    const format = (l: BackendLogLine) => `${timestamps ? `${l.time} ` : ''}${l.line}\n`;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    const lines = tailLines === 0 ? [] : deps.runtime.logs(id, tailLines);
    if (!follow) {
      ctx.body = lines.map(format).join('');
      return;
    }
    const out = new PassThrough();
    for (const l of lines) out.write(format(l));
    const onLine = (lineId: string, l: BackendLogLine) => {
      if (lineId === id) out.write(format(l));
    };
    deps.runtime.on('log', onLine);
    const stop = () => {
      deps.runtime.off('log', onLine);
      out.end();
    };
    ctx.req.once('close', stop);
    ctx.res.once('close', stop);
    ctx.body = out;
  });
  return router;
}
