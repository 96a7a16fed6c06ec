import Router from '@koa/router';
import { resourceAttributes } from '../api/request-info.js';
import { readObjectBody } from '../api/body.js';
import { badRequest, notFound } from '../api/status.js';
import { requestContextOf, type AppContext, type AppState, type UserInfo } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject } from '../store/resource-store.js';
import type { Authorizer, TenantMembership } from '../auth/authorizer.js';
import { iamGroup } from '../schemas/iam.js';
import { tenantGroup, workspaceLabel } from '../schemas/tenant.js';
import { creatorAnnotation } from './namespace-roles-controller.js';
import { singleQueryParam } from '../api/query-params.js';

const base = `/kapis/${tenantGroup}/v1alpha1`;

/**
 * Workspace-scoped APIs (KubeSphere's shape): the workspaces and namespaces a caller belongs
 * to, and a workspace's namespaces, roles and members managed under its path — authorized in
 * the workspace's scope by the pipeline before these handlers run.
 */
export function tenantRouter(deps: { service: ResourceService; kinds: KindRegistry; authorizer: Authorizer; index: TenantMembership }): Router<AppState> {
  const { service, kinds, authorizer, index } = deps;
  const def = (group: string, plural: string) => kinds.byGroupResource(group, plural)!;
  const wsDef = () => def(tenantGroup, 'workspaces');
  const nsDef = () => def('', 'namespaces');
  const router = new Router<AppState>();

  const may = async (user: UserInfo, verb: string, apiGroup: string, resource: string, workspace?: string) => {
    const r = resourceAttributes({ verb, apiGroup, resource, workspace });
    return (await authorizer.authorize(user, r)).allowed;
  };
  const requireWorkspace = async (name: string) => {
    const ws = await service.getStored(wsDef(), '', name);
    if (!ws) throw notFound(tenantGroup, 'workspaces', name);
    return ws;
  };
  const list = (d: KindDefinition, items: KubeObject[], rv: string) => ({
    apiVersion: d.group ? `${d.group}/${d.version}` : d.version, kind: d.listKind, metadata: { resourceVersion: rv }, items,
  });

  router.get(`${base}/workspaces`, async (ctx: AppContext) => {
    const user = ctx.state.user!;
    const page = await service.list(wsDef(), '', { labelSelector: singleQueryParam(ctx.URL.searchParams, 'labelSelector') });
    let items = page.items;
    if (!(await may(user, 'list', tenantGroup, 'workspaces'))) {
      const groups = index.groupsOf(user.username, user.groups);
      const mine = index.workspacesOf(user.username, groups);
      for (const ns of index.namespacesOf(user.username, groups)) {
        const ws = index.workspaceOfNamespace(ns);
        if (ws) mine.add(ws);
      }
      items = items.filter((w) => mine.has(w.metadata.name!));
    }
    ctx.body = list(wsDef(), items, page.resourceVersion);
  });

  router.get(`${base}/workspaces/:ws`, async (ctx: AppContext) => {
    ctx.body = await service.get(wsDef(), '', (ctx as unknown as { params: { ws: string } }).params.ws);
  });

  router.get(`${base}/workspaces/:ws/namespaces`, async (ctx: AppContext) => {
    const wsName = param(ctx, 'ws');
    await requireWorkspace(wsName);
    const user = ctx.state.user!;
    const page = await service.list(nsDef(), '', { labelSelector: `${workspaceLabel}=${wsName}` });
    let items = page.items;
    if (!(await may(user, 'list', '', 'namespaces', wsName)) && !(await may(user, 'list', tenantGroup, 'namespaces', wsName))) {
      const mine = index.namespacesOf(user.username, index.groupsOf(user.username, user.groups));
      items = items.filter((n) => mine.has(n.metadata.name!));
    }
    ctx.body = list(nsDef(), items, page.resourceVersion);
  });

  router.post(`${base}/workspaces/:ws/namespaces`, async (ctx: AppContext) => {
    const wsName = param(ctx, 'ws');
    await requireWorkspace(wsName);
    const body = objectBody(await readObjectBody(ctx.req));
    const labels = { ...(body.metadata?.labels ?? {}), [workspaceLabel]: wsName };
    const annotations = { ...(body.metadata?.annotations ?? {}), [creatorAnnotation]: ctx.state.user!.username };
    const r = await service.create(nsDef(), '', { ...body, metadata: { ...body.metadata, labels, annotations } }, requestContextOf(ctx));
    ctx.status = 201;
    ctx.body = r.object;
  });

  for (const plural of ['workspaceroles', 'workspacerolebindings'] as const) {
    router.get(`${base}/workspaces/:ws/${plural}`, async (ctx: AppContext) => {
      const wsName = param(ctx, 'ws');
      await requireWorkspace(wsName);
      const page = await service.list(def(iamGroup, plural), '', { labelSelector: `${workspaceLabel}=${wsName}` });
      ctx.body = list(def(iamGroup, plural), page.items, page.resourceVersion);
    });
    router.get(`${base}/workspaces/:ws/${plural}/:name`, async (ctx: AppContext) => {
      ctx.body = await inWorkspace(plural, param(ctx, 'ws'), param(ctx, 'name'));
    });
    router.delete(`${base}/workspaces/:ws/${plural}/:name`, async (ctx: AppContext) => {
      await inWorkspace(plural, param(ctx, 'ws'), param(ctx, 'name'));
      ctx.body = (await service.delete(def(iamGroup, plural), '', param(ctx, 'name'))).object;
    });
  }

  router.post(`${base}/workspaces/:ws/workspacerolebindings`, async (ctx: AppContext) => {
    const wsName = param(ctx, 'ws');
    await requireWorkspace(wsName);
    const body = objectBody(await readObjectBody(ctx.req));
    const labels = { ...(body.metadata?.labels ?? {}), [workspaceLabel]: wsName };
    const r = await service.create(def(iamGroup, 'workspacerolebindings'), '', { ...body, metadata: { ...body.metadata, labels } }, requestContextOf(ctx));
    ctx.status = 201;
    ctx.body = r.object;
  });

  /** Who is in the workspace, with which roles. */
  router.get(`${base}/workspaces/:ws/members`, async (ctx: AppContext) => {
    const wsName = param(ctx, 'ws');
    await requireWorkspace(wsName);
    const { items } = await service.list(def(iamGroup, 'workspacerolebindings'), '', { labelSelector: `${workspaceLabel}=${wsName}` });
    const members = new Map<string, { kind: string; name: string; roles: string[] }>();
    for (const b of items) {
      const role = (b as { roleRef?: { name?: string } }).roleRef?.name ?? '';
      for (const s of (b as { subjects?: Array<{ kind: string; name: string }> }).subjects ?? []) {
        const key = `${s.kind}/${s.name}`;
        const m = members.get(key) ?? { kind: s.kind, name: s.name, roles: [] };
        if (!m.roles.includes(role)) m.roles.push(role);
        members.set(key, m);
      }
    }
    ctx.body = { apiVersion: `${tenantGroup}/v1alpha1`, kind: 'MemberList', items: [...members.values()] };
  });

  async function inWorkspace(plural: string, ws: string, name: string): Promise<KubeObject> {
    const obj = await service.get(def(iamGroup, plural), '', name);
    if (obj.metadata.labels?.[workspaceLabel] !== ws) throw notFound(iamGroup, plural, name);
    return obj;
  }

  return router;
}

const param = (ctx: AppContext, name: string) => (ctx as unknown as { params: Record<string, string> }).params[name]!;

function objectBody(body: unknown): KubeObject & { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object');
  const b = body as KubeObject;
  return { ...b, metadata: { ...(b.metadata ?? {}) } };
}
