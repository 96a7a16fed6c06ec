import { isNamespaceName, isObjectName, type BackendContext, type ExtensionBackend, type Identity } from '@mortise/extension-sdk/backend';
import type { Access } from './access.js';
import type { DataPlaneView } from './dataplane-view.js';
import { clusterOf } from './endpoints.js';
import type { MeshState } from './mesh-state.js';
import { Telemetry } from './telemetry.js';
import { toIstio } from './istio.js';
import { topology } from './topology.js';
import { meshGroup, meshVersion } from './types.js';

// The extension's read API (under /proxy/servicemesh/ through the gateway): topology, a
// service's detail, traces, metrics; and promote/rollback of a GrayRelease. Every namespace
// view asks the core whether the caller may `get meshservices` there.

export interface ApiDeps {
  backend: ExtensionBackend; access: Access; state: MeshState; dataplane: DataPlaneView; dataplaneUrl: () => string;
  /** Which data plane serves (the `dataPlane` setting resolved) and why, for the API and the logs. */
  plane: { kind: 'nginx' | 'node'; setting: string; reason?: string };
}

function int(v: unknown, dflt: number | undefined, min: number, max: number, name: string, ctx: BackendContext): number | undefined {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) return ctx.throw(400, `${name} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function registerApiRoutes(d: ApiDeps): void {
  const { router } = d.backend;
  const namespaceOf = async (ctx: BackendContext, verb = 'get', resource = 'meshservices', name?: string): Promise<string> => {
    const ns = ctx.params.ns!;
    if (!isNamespaceName(ns)) return ctx.throw(400, `"${ns}" is not a namespace name`);
    const who = ctx.state.identity as Identity;
    if (!(await d.access.may(who, verb, resource, ns, name))) {
      ctx.throw(403, `User "${who.username}" cannot ${verb} ${resource}.${meshGroup} in the namespace "${ns}"`);
    }
    return ns;
  };

  router.get('/api/dataplane', (ctx) => {
    ctx.body = { url: d.dataplaneUrl(), hostFormat: '<service>.<namespace>', plane: d.plane.kind, setting: d.plane.setting, ...(d.plane.reason ? { reason: d.plane.reason } : {}) };
  });

  router.get('/api/namespaces/:ns/topology', async (ctx) => {
    const ns = await namespaceOf(ctx);
    const window = int(ctx.query.window, 60, 1, 600, 'window', ctx)!;
    const [telemetry, endpoints] = await Promise.all([d.dataplane.telemetry(window), d.dataplane.endpoints()]);
    ctx.body = topology(ns, d.state, telemetry, endpoints, window);
  });

  router.get('/api/namespaces/:ns/services/:service', async (ctx) => {
    const ns = await namespaceOf(ctx);
    const service = ctx.params.service!;
    // What it shows is in force wherever requests are served.
    await d.dataplane.synced();
    const routing = d.state.lookup(service, ns);
    if (!routing) return ctx.throw(404, `no MeshService "${service}" in namespace "${ns}" (or its rules never compiled)`);
    const window = int(ctx.query.window, 60, 1, 600, 'window', ctx)!;
    const [telemetry, endpoints] = await Promise.all([d.dataplane.telemetry(window), d.dataplane.endpoints()]);
    const of = (o: { metadata: { namespace: string }; spec: unknown }) => o.metadata.namespace === ns && (o.spec as { service?: string }).service === service;
    ctx.body = {
      namespace: ns, service, generation: routing.generation, problem: d.state.problems.get(`${ns}/${service}`) ?? null,
      defaultVersion: routing.defaultVersion,
      versions: [...routing.versions].map(([name, urls]) => ({
        name, endpoints: urls.map((u) => endpoints.state(clusterOf(ns, service, name), u)),
        stats: telemetry.window((e) => e.namespace === ns && e.service === service && e.version === name, window),
      })),
      stats: telemetry.window((e) => e.namespace === ns && e.service === service, window),
      trafficRules: [...d.state.rules.values()].filter(of),
      circuitBreakers: [...d.state.breakers.values()].filter(of),
      grayReleases: [...d.state.releases.values()].filter(of),
    };
  });

  router.get('/api/namespaces/:ns/traces', async (ctx) => {
    const ns = await namespaceOf(ctx);
    const q = ctx.query;
    const candidates = (await d.dataplane.traces({ namespace: ns })).list({
      namespace: ns, service: typeof q.service === 'string' && q.service ? q.service : undefined,
      since: int(q.since, undefined, 0, Number.MAX_SAFE_INTEGER, 'since', ctx), until: int(q.until, undefined, 0, Number.MAX_SAFE_INTEGER, 'until', ctx),
      minDurationMs: int(q.minDurationMs, undefined, 0, 3_600_000, 'minDurationMs', ctx),
      error: q.error === 'true' ? true : q.error === 'false' ? false : undefined,
      limit: int(q.limit, 100, 1, 1000, 'limit', ctx),
    });
    // A trace crossing into a namespace the caller may not read is not shown.
    const others = new Set(candidates.flatMap((t) => t.namespaces).filter((n) => n !== ns));
    const denied = new Set<string>();
    for (const n of others) if (!(await d.access.may(ctx.state.identity, 'get', 'meshservices', n))) denied.add(n);
    ctx.body = { items: candidates.filter((t) => !t.namespaces.some((n) => denied.has(n))) };
  });

  router.get('/api/namespaces/:ns/traces/:traceId', async (ctx) => {
    const ns = await namespaceOf(ctx);
    const traceId = ctx.params.traceId!.toLowerCase();
    const t = (await d.dataplane.traces({ traceIds: [traceId] })).tree(traceId);
    if (!t || !t.summary.namespaces.includes(ns)) return ctx.throw(404, `no trace "${ctx.params.traceId}" in namespace "${ns}"`);
    for (const n of t.summary.namespaces) {
      if (n !== ns && !(await d.access.may(ctx.state.identity, 'get', 'meshservices', n))) return ctx.throw(403, `the trace crosses the namespace "${n}", which you may not read`);
    }
    ctx.body = t;
  });

  router.post('/api/namespaces/:ns/grayreleases/:name/:action', async (ctx) => {
    const action = ctx.params.action!;
    if (action !== 'promote' && action !== 'rollback') return ctx.throw(404, `no action "${action}" (promote or rollback)`);
    const name = ctx.params.name!;
    // A name from the path goes into the core's URL, written with the service account.
    if (!isObjectName(name)) return ctx.throw(400, `"${name}" is not a valid name`);
    const ns = await namespaceOf(ctx, 'update', 'grayreleases', name);
    ctx.body = await d.backend.core.patch(`/apis/${meshGroup}/${meshVersion}/namespaces/${ns}/grayreleases/${name}`, { spec: { action } });
  });

  // The namespace's mesh objects as Istio's, for `kubectl apply -f` on a cluster.
  router.get('/api/namespaces/:ns/istio', async (ctx) => {
    const ns = await namespaceOf(ctx);
    const inNs = <T extends { metadata: { namespace: string } }>(m: Map<string, T>) => [...m.values()].filter((o) => o.metadata.namespace === ns);
    ctx.body = { apiVersion: 'v1', kind: 'List', items: toIstio({ services: inNs(d.state.services), rules: inNs(d.state.rules), breakers: inNs(d.state.breakers), releases: inNs(d.state.releases) }) };
  });

  router.get('/metrics', async (ctx) => {
    const who = ctx.state.identity;
    if (!(await d.access.may(who, 'get', 'meshservices', ''))) return ctx.throw(403, `User "${who.username}" cannot get meshservices.${meshGroup} at the cluster scope (the metrics cover every namespace)`);
    ctx.type = Telemetry.contentType;
    ctx.body = (await d.dataplane.telemetry(1)).metrics();
  });
}
