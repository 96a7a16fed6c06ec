// The cluster's own API behind the core (kubernetes mode): `/clusters/host/<path>` reaches
// `<path>` on the cluster's API server, so the console and kubectl can show pods and
// deployments. Who may do what is Mortise's RBAC, checked on the path's attributes by the
// authorization middleware before this runs (request-info.ts: `cluster: 'host'`). The cluster
// then sees the Mortise user (impersonation, the default: its own RBAC decides again) or the
// core's identity. Without a cluster (embedded mode) the prefix answers 404.
import Router from '@koa/router';
import type { AppState, UserInfo } from '../http/app-state.js';
import type { KubeClient } from '../store/kube/kube-client.js';
import { hostClusterPrefix } from './request-info.js';
import { hasDotSegment, hasHiddenSeparator } from '../http/path-segments.js';
import { StoreError } from '../store/resource-store.js';
import { historyBeforeNamespace, historyVersionOf } from '../store/kube/namespace-history.js';
import { ApiError, badRequest, notFound } from './status.js';

/** Request headers passed on: what the body and the answer are; never credentials or identity. */
const passed = ['accept', 'content-type', 'content-encoding'];
/** Response headers passed back. */
const returned = ['content-type', 'content-encoding', 'warning', 'audit-id'];

export interface HostClusterOptions {
  /** `impersonate` (default): the cluster sees the Mortise user; `core`: the core's identity. */
  identity?: 'impersonate' | 'core';
  /** Before impersonated user and group names (default `mortise:`). */
  prefix?: string;
}

/**
 * The impersonation headers for a Mortise user: its name and groups, prefixed so none can be one
 * of the cluster's own (`system:masters`, a node, a service account).
 */
export function impersonationHeaders(user: UserInfo, prefix: string): Record<string, string | string[]> {
  return {
    'impersonate-user': `${prefix}${user.username}`,
    ...(user.groups.length ? { 'impersonate-group': user.groups.map((g) => `${prefix}${g}`) } : {}),
  };
}

export function hostClusterRouter(client: KubeClient | undefined, opts: HostClusterOptions = {}): Router<AppState> {
  const router = new Router<AppState>();
  const impersonate = (opts.identity ?? 'impersonate') === 'impersonate';
  const prefix = opts.prefix ?? 'mortise:';
  router.all(`${hostClusterPrefix}/{*rest}`, async (ctx) => {
    if (!client) throw notFound('', 'clusters', 'host');
    // The path was authorized segment by segment, each decoded once (request-info.ts). A dot
    // segment, or one hiding a separator, would be other segments to the cluster or to anything
    // on the way that decodes and resolves: with identity core, another namespace's objects.
    const rest = ctx.path.slice(hostClusterPrefix.length);
    if (hasDotSegment(rest)) throw badRequest(`the path "${ctx.path}" has "." or ".." segments, which are not passed on to the cluster`);
    // Empty segments are skipped when the path is authorized; the cluster would count them.
    if (rest.includes('//')) throw badRequest(`the path "${ctx.path}" has an empty segment, which is not passed on to the cluster`);
    if (hasHiddenSeparator(rest)) throw badRequest(`the path "${ctx.path}" hides a "/" or "\\" in a segment (%2F, %5C or a raw "\\"), which names cannot hold: it is not passed on to the cluster`);
    // A list or watch in a namespace reading history from before that namespace was created
    // (another tenant's, perhaps, of the same name) is 410 Expired, as through the core's own API.
    const info = ctx.state.requestInfo;
    const query = new URLSearchParams(ctx.querystring);
    // Any `watch` parameter counts: the cluster's reading of its value need not be ours.
    const watch = info?.verb === 'watch' || query.has('watch');
    const since = info?.namespace && (watch || info.verb === 'list') ? historyVersionOf(query, watch) : undefined;
    if (since) {
      const expired = await historyBeforeNamespace(client, info!.namespace, since).catch((e: unknown) => {
        if (!(e instanceof StoreError) || e.reason === 'Expired') return e as Error;
        throw e.reason === 'Invalid' ? badRequest(e.message) : new ApiError(503, 'ServiceUnavailable', e.message);
      });
      if (expired) {
        const status = new ApiError(410, 'Expired', expired.message);
        if (!watch) throw status;
        // A watch learns it on the stream, as from the cluster.
        ctx.status = 200;
        ctx.type = 'application/json';
        ctx.body = `${JSON.stringify({ type: 'ERROR', object: status.toStatus() })}\n`;
        return;
      }
    }
    const headers: Record<string, string | string[]> = {};
    for (const h of passed) {
      const v = ctx.get(h);
      if (v) headers[h] = v;
    }
    // The pipeline authenticated the caller (a request without a user never gets here).
    if (impersonate) Object.assign(headers, impersonationHeaders(ctx.state.user!, prefix));
    // Sent as received (KubeClient.forward does not parse it again): what was authorized.
    const path = rest + (ctx.querystring ? `?${ctx.querystring}` : '');
    const hasBody = !['GET', 'HEAD', 'DELETE'].includes(ctx.method) || Boolean(ctx.get('content-length'));
    const res = await client.forward(ctx.method, path, headers, hasBody ? ctx.req : undefined);
    ctx.status = res.statusCode;
    for (const h of returned) {
      const v = res.headers[h];
      if (typeof v === 'string') ctx.set(h, v);
    }
    ctx.body = res.body;
  });
  return router;
}
