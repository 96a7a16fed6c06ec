import type { KindRegistry } from '../registry/kind-registry.js';
import { apiVersionOf, type KindDefinition, type RequestContext } from '../registry/kind.js';
import { parseResourceVersion, type DeleteOptions, type FieldValidation, type ResourceService } from '../registry/resource-service.js';
import type { ListQuery } from '../registry/resource-types.js';
import type { KubeObject } from '../store/resource-store.js';
import { queryOf, requestContextOf, type AppContext, type UserInfo } from '../http/app-state.js';
import { readObjectBody } from './body.js';
import { isPlainObject, ownValue } from './own-properties.js';
import { showValue } from './plain-data.js';
import { exactNameOf, type RequestInfo } from './request-info.js';
import { patchTypeOf } from './patch.js';
import { fieldManagerOf, forceOf, isApplyPatch } from '../apply/write-options.js';
import { badRequest, methodNotAllowed, notFound } from './status.js';
import { toTable, wantsTable } from './table.js';
import type { WatchAccess, WatchHub } from './watch-hub.js';

/** Serves CRUD, patch and watch for every kind in the registry. */
export class ResourceHandler {
  constructor(
    private readonly kinds: KindRegistry,
    private readonly service: ResourceService,
    private readonly watches: WatchHub,
    /** Authorizes a request as another verb (an apply that creates must be allowed to create). */
    private readonly authorize?: (user: UserInfo, info: RequestInfo) => Promise<void>,
    /** Whether the caller of an open watch still may have it (asked again when RBAC, a user or a session changes). */
    private readonly watchAccess?: (ctx: AppContext) => WatchAccess,
  ) {}

  handle = async (ctx: AppContext): Promise<void> => {
    const info = ctx.state.requestInfo;
    const def = this.kinds.lookup(info.apiGroup, info.apiVersion, info.resource);
    if (!def) throw notFound(info.apiGroup, info.resource);
    ctx.state.routeLabel = resourceRouteLabel(info, def);
    const ns = def.namespaced ? info.namespace : '';
    // A cluster-scoped kind has no namespaced paths; a Namespace is its own scope (and only its own).
    const ownScope = def.group === '' && def.plural === 'namespaces' ? info.name : '';
    if (!def.namespaced && info.namespace !== ownScope) throw notFound(info.apiGroup, info.resource);
    const q = queryOf(ctx);
    const sub = info.subresource;
    if (sub && !(sub === 'status' && def.subresources.status) && !(sub === 'finalize' && def.plural === 'namespaces' && def.group === '')) {
      throw notFound(def.group, `${def.plural}/${sub}`);
    }
    // Only a subresource the kind has names a label (the path is the client's: bounded cardinality).
    if (sub) ctx.state.routeLabel += `/${sub}`;
    if (def.verbs && !def.verbs.includes(info.verb)) throw methodNotAllowed(`${info.verb} is not supported on ${def.plural}`);
    if (sub && !['get', 'update', 'patch'].includes(info.verb)) throw methodNotAllowed(`${info.verb} is not supported on ${def.plural}/${sub}`);
    const ctxUser = requestContextOf(ctx);
    const dryRun = dryRunOf(q);
    const fieldValidation = fieldValidationOf(q);
    const version = info.apiVersion;
    const apiVersion = apiVersionOf({ group: def.group, version });
    const userAgent = ctx.get('user-agent');
    // What was authorized is what is served: a list or watch that named one object serves it alone.
    const only = info.verb === 'watch' ? nameScopeOf(info.name, q.get('fieldSelector')) : undefined;

    switch (info.verb) {
      case 'get': {
        // An object at its storage version, as JSON: the stored row is the answer.
        const raw = version === def.version && !wantsTable(ctx.get('accept')) ? this.service.getJson(def, ns, info.name) : undefined;
        if (raw !== undefined) {
          ctx.type = 'application/json';
          ctx.body = raw;
          return;
        }
        return this.send(ctx, def, version, await this.service.get(def, ns, info.name));
      }
      case 'list': {
        const query = listQueryOf(info, q);
        // Most lists are whole collections at the storage version: splice the stored JSON.
        const fast = version === def.version && !wantsTable(ctx.get('accept')) ? storedListBody(this.service, def, ns, query) : undefined;
        if (fast) {
          ctx.type = 'application/json';
          ctx.body = fast;
          return;
        }
        const page = await this.service.list(def, ns, query);
        const items = page.items.map((o) => asVersion(o, def, version));
        if (wantsTable(ctx.get('accept'))) {
          ctx.body = toTable(def, items, page, q.get('includeObject'));
          return;
        }
        ctx.body = {
          apiVersion: def.group ? `${def.group}/${version}` : version,
          kind: def.listKind,
          metadata: { resourceVersion: page.resourceVersion, ...(page.continue ? { continue: page.continue } : {}) },
          items,
        };
        return;
      }
      case 'watch':
        if (ctx.method !== 'GET') throw methodNotAllowed(`a watch is a GET, not a ${ctx.method}`);
        return this.watches.serve(ctx, def, ns, version, only, this.watchAccess?.(ctx));
      case 'create': {
        if (info.name) throw methodNotAllowed(`POST to a named ${def.kind} is not supported: POST to the collection`);
        if (def.terminating) throw methodNotAllowed(`create not allowed while custom resource definition ${def.plural}.${def.group} is terminating`);
        const fieldManager = fieldManagerOf(q, userAgent, 'CreateOptions', false);
        const r = await this.service.create(def, ns, await readObjectBody(ctx.req), ctxUser, { dryRun, fieldValidation, fieldManager, apiVersion, freshBody: true });
        warn(ctx, r.warnings);
        ctx.status = 201;
        return this.send(ctx, def, version, r.object, 201);
      }
      case 'update': {
        const fieldManager = fieldManagerOf(q, userAgent, 'UpdateOptions', false);
        const body = await readObjectBody(ctx.req);
        if (sub === 'finalize') return this.send(ctx, def, version, (await this.finalizeNamespace(def, info.name, body, ctxUser, dryRun)).object);
        const r = await this.service.update(def, ns, info.name, body, ctxUser, { dryRun, fieldValidation, fieldManager, apiVersion, subresource: sub === 'status' ? 'status' : '', freshBody: true });
        warn(ctx, r.warnings);
        return this.send(ctx, def, version, r.object);
      }
      case 'patch': {
        const subresource = sub === 'status' ? 'status' : '';
        if (isApplyPatch(ctx.get('content-type'))) {
          // Server-side apply: a YAML (or JSON) configuration; creates the object if it is missing.
          const fieldManager = fieldManagerOf(q, userAgent, 'PatchOptions', true);
          const body = await readObjectBody(ctx.req);
          // As kube-apiserver: an apply that creates the object is authorized as a create too.
          const user = ctx.state.user;
          const beforeCreate = user && this.authorize ? () => this.authorize!(user, { ...info, verb: 'create' }) : undefined;
          const r = await this.service.apply(def, ns, info.name, body, ctxUser, { dryRun, fieldValidation, fieldManager, apiVersion, subresource, force: forceOf(q), beforeCreate });
          warn(ctx, r.warnings);
          return this.send(ctx, def, version, r.object, r.created ? 201 : 200);
        }
        const type = patchTypeOf(ctx.get('content-type'));
        const fieldManager = fieldManagerOf(q, userAgent, 'PatchOptions', false);
        const body = await readObjectBody(ctx.req, { contentType: 'application/json' });
        const r = await this.service.patch(def, ns, info.name, type, body, ctxUser, { dryRun, fieldValidation, fieldManager, apiVersion, subresource });
        warn(ctx, r.warnings);
        return this.send(ctx, def, version, r.object);
      }
      case 'delete': {
        const opts = await deleteOptionsOf(ctx);
        const r = await this.service.delete(def, ns, info.name, { ...opts, dryRun });
        // As kube-apiserver: 200 also when finalizers keep the object for now (it shows deletionTimestamp).
        return this.send(ctx, def, version, r.object, 200);
      }
      case 'deletecollection': {
        const opts = await deleteOptionsOf(ctx);
        const items = await this.service.deleteCollection(def, ns, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') }, { ...opts, dryRun });
        ctx.body = { apiVersion: def.group ? `${def.group}/${version}` : version, kind: def.listKind, metadata: {}, items: items.map((o) => asVersion(o, def, version)) };
        return;
      }
      default:
        throw methodNotAllowed(`the server does not allow this method on the requested resource (${info.verb})`);
    }
  };

  /** PUT /api/v1/namespaces/{name}/finalize: the only way spec.finalizers changes. */
  private async finalizeNamespace(def: KindDefinition, name: string, body: unknown, ctx: RequestContext, dryRun: boolean) {
    const finalizers = (body as { spec?: { finalizers?: unknown } })?.spec?.finalizers;
    if (finalizers !== undefined && (!Array.isArray(finalizers) || finalizers.some((f) => typeof f !== 'string'))) {
      throw badRequest('spec.finalizers must be a list of strings');
    }
    const current = await this.service.getStored(def, '', name);
    if (!current) throw notFound('', 'namespaces', name);
    return this.service.setNamespaceFinalizers(def, current, (finalizers as string[] | undefined) ?? [], ctx, { dryRun });
  }

  private send(ctx: AppContext, def: KindDefinition, version: string, obj: KubeObject, status = 200) {
    ctx.status = status;
    const out = asVersion(obj, def, version);
    ctx.body = wantsTable(ctx.get('accept')) ? toTable(def, [out], {}, queryOf(ctx).get('includeObject')) : out;
  }
}

const closingBrace = Buffer.from('}');
/** The last whole body sent for a list's items (same items, same resourceVersion: the same bytes). */
const listBodies = new WeakMap<Buffer, { head: string; body: Buffer }>();

/** The `route` label of a kind's resource requests: bounded (the kinds the core serves), whatever the path. */
export const resourceRouteLabel = (info: Pick<RequestInfo, 'prefix'>, def: KindDefinition): string => `${info.prefix}/${def.group || 'core'}/${def.plural}`;

/**
 * A list at the kind's storage version as JSON, spliced from the stored rows; undefined when the
 * store cannot give them as they are (a collection it does not keep, a kind that hides what it stores).
 */
export function storedListBody(service: ResourceService, def: KindDefinition, namespace: string, query: ListQuery): Buffer | undefined {
  const fast = service.listJson(def, namespace, query);
  if (!fast) return undefined;
  const head = `{"apiVersion":${JSON.stringify(apiVersionOf(def))},"kind":${JSON.stringify(def.listKind)},"metadata":{"resourceVersion":${JSON.stringify(fast.resourceVersion)}${fast.continue ? `,"continue":${JSON.stringify(fast.continue)}` : ''}},"items":`;
  return listBody(head, fast.items);
}

function listBody(head: string, items: Buffer): Buffer {
  const last = listBodies.get(items);
  if (last?.head === head) return last.body;
  const body = Buffer.concat([Buffer.from(head), items, closingBrace]);
  listBodies.set(items, { head, body });
  return body;
}

/**
 * What a list asks, checked: its selectors, its page, and the one name it may serve when it named
 * one (what was authorized is what is served). A bad version, limit or name is refused (400).
 */
export function listQueryOf(info: Pick<RequestInfo, 'name'>, q: URLSearchParams): ListQuery {
  const name = nameScopeOf(info.name, q.get('fieldSelector'));
  const rv = q.get('resourceVersion');
  if (rv) parseResourceVersion(rv);
  return { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector'), limit: intParam(q, 'limit'), continue: q.get('continue'), name };
}

/**
 * The one name a list or watch may serve (undefined: the whole collection). A name on the path
 * with a field selector that selects another (or none) is refused, as kube-apiserver does.
 */
function nameScopeOf(name: string, fieldSelector: string | null): string | undefined {
  if (!name) return undefined;
  if (fieldSelector && fieldSelector.trim() && exactNameOf(fieldSelector) !== name) {
    throw badRequest(`fieldSelector metadata.name doesn't match requested name "${name}"`);
  }
  return name;
}

/** Conversion strategy "None": the same object at whichever served version was asked. */
export function asVersion(obj: KubeObject, def: KindDefinition, version: string): KubeObject {
  if (version === def.version || !def.group) return obj;
  return { ...obj, apiVersion: `${def.group}/${version}` };
}

function warn(ctx: AppContext, warnings: string[]) {
  if (warnings.length) ctx.set('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', '));
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw badRequest(`${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

function dryRunOf(q: URLSearchParams): boolean {
  const v = q.getAll('dryRun');
  if (v.some((x) => x !== 'All')) throw badRequest(`dryRun must be "All", got "${v.join(',')}"`);
  return v.length > 0;
}

function fieldValidationOf(q: URLSearchParams): FieldValidation | undefined {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return undefined;
  if (v !== 'Strict' && v !== 'Warn' && v !== 'Ignore') throw badRequest(`fieldValidation must be Strict, Warn or Ignore, got "${v}"`);
  return v;
}

async function deleteOptionsOf(ctx: AppContext): Promise<DeleteOptions> {
  const q = queryOf(ctx);
  let body: Record<string, unknown> = {};
  const length = Number(ctx.get('content-length') || 0);
  if (length > 0 || ctx.get('transfer-encoding')) {
    const parsed = await readObjectBody(ctx.req).catch((e: Error) => {
      if (/empty/.test(e.message)) return {};
      throw e;
    });
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  }
  let policy: unknown = q.get('propagationPolicy') ?? ownValue(body, 'propagationPolicy') ?? undefined;
  if (policy === undefined && (q.get('orphanDependents') === 'true' || ownValue(body, 'orphanDependents') === true)) policy = 'Orphan';
  if (policy !== undefined && !(typeof policy === 'string' && ['Orphan', 'Background', 'Foreground'].includes(policy))) {
    throw badRequest(`propagationPolicy must be Orphan, Background or Foreground, got "${showValue(policy)}"`);
  }
  const preconditions = ownValue(body, 'preconditions') ?? undefined;
  if (preconditions !== undefined && !(isPlainObject(preconditions) && ['uid', 'resourceVersion'].every((k) => ['string', 'undefined'].includes(typeof ownValue(preconditions, k))))) {
    throw badRequest('preconditions must be an object with string uid and resourceVersion');
  }
  return { propagationPolicy: policy as DeleteOptions['propagationPolicy'], preconditions: preconditions as DeleteOptions['preconditions'] };
}
