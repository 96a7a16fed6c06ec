import type { RequestListener } from 'node:http';
import type { Logger } from 'pino';
import { parseRequestInfo, type RequestInfo } from '../api/request-info.js';
import { listQueryOf, resourceRouteLabel, storedListBody } from '../api/resource-handler.js';
import { wantsTable } from '../api/table.js';
import { stripIdentityHeaders } from '../auth/authenticator.js';
import type { CoreMetrics } from '../ops/metrics.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { UserInfo } from './app-state.js';
import { recordRequest } from './middleware.js';
import type { RequestGuard } from './request-guard.js';

export interface PlainReadDeps {
  kinds: KindRegistry;
  service: ResourceService;
  guard: RequestGuard;
  metrics: CoreMetrics;
  logger: Logger;
  /** Whether a route of its own on the router claims this method and path (resource-fast-path.ts). */
  claimedElsewhere: (method: string, path: string) => boolean;
}

const emptyQuery = new URLSearchParams();

/** The parameters of a list taken here (kubectl's and the console's); any other goes to koa. */
const listParameters = new Set(['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'resourceVersionMatch']);

function onlyListParameters(q: URLSearchParams): boolean {
  for (const k of q.keys()) if (!listParameters.has(k)) return false;
  return true;
}

/**
 * The reads every console page and controller makes most — the GET of one object and of a whole
 * collection — answered without koa when they succeed: the identity headers stripped, the caller
 * authenticated and authorized (the same RequestGuard), the stored JSON sent as the koa handler
 * sends it, the request counted and logged as the access log does. koa's pipeline costs a GET
 * as much again as the read itself (docs/benchmarks.md). Only the plainest forms are taken — a
 * GET with no query string, a list with no parameters but its selectors, page and version, a
 * kind's storage version, not as a Table — and only their success is answered here:
 * anything else (a denial, a missing object, a subresource, a failure) goes to `fallback`, the
 * koa pipeline, which answers and audits it as it does every request. The checks made here have
 * no side effects, so making them again there changes nothing but the time.
 */
export function plainReadListener(deps: PlainReadDeps, fallback: RequestListener): RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET' || !(url.startsWith('/apis/') || url.startsWith('/api/'))) {
      fallback(req, res);
      return;
    }
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const query = mark < 0 ? emptyQuery : new URLSearchParams(url.slice(mark + 1));
    if (mark >= 0 && !onlyListParameters(query)) {
      fallback(req, res);
      return;
    }
    const info = parseRequestInfo('GET', path, query);
    if (!(info.verb === 'list' || (info.verb === 'get' && mark < 0)) || !info.isResourceRequest || info.subresource || info.cluster || deps.claimedElsewhere('GET', path)) {
      fallback(req, res);
      return;
    }
    void answer(deps, req, res, info, query, fallback);
  };
}

async function answer(deps: PlainReadDeps, req: Parameters<RequestListener>[0], res: Parameters<RequestListener>[1], info: RequestInfo, query: URLSearchParams, fallback: RequestListener): Promise<void> {
  const started = process.hrtime.bigint();
  const def = deps.kinds.lookup(info.apiGroup, info.apiVersion, info.resource);
  // What ResourceHandler checks before a get; a request it would refuse is its to refuse.
  const ownScope = def && def.group === '' && def.plural === 'namespaces' ? info.name : '';
  if (!def || info.apiVersion !== def.version || (!def.namespaced && info.namespace !== ownScope) || (def.verbs && !def.verbs.includes(info.verb)) || !deps.service.showsStoredJson(def) || wantsTable(req.headers.accept)) {
    fallback(req, res);
    return;
  }
  let user: UserInfo | undefined;
  let body: string | Buffer | undefined;
  try {
    stripIdentityHeaders(req.headers);
    user = await deps.guard.authenticate(req.headers, false, 'GET');
    await deps.guard.authorize(user!, info);
    const ns = def.namespaced ? info.namespace : '';
    body = info.verb === 'get' ? deps.service.getJson(def, ns, info.name) : storedListBody(deps.service, def, ns, listQueryOf(info, query));
  } catch {
    body = undefined;
  }
  if (body === undefined || res.destroyed) {
    fallback(req, res);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  recordRequest(deps.metrics, deps.logger, {
    route: resourceRouteLabel(info, def), method: 'GET', path: info.path, code: 200,
    seconds: Number(process.hrtime.bigint() - started) / 1e9, user: user?.username,
  });
}
