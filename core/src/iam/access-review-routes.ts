import Router from '@koa/router';
import type { RequestInfo } from '../api/request-info.js';
import { readObjectBody } from '../api/body.js';
import { badRequest } from '../api/status.js';
import { isPlainObject, ownValue } from '../api/own-properties.js';
import type { AppContext, AppState, UserInfo } from '../http/app-state.js';
import { defineKind } from '../schemas/define-kind.js';
import { bool, freeform, obj, objectSchema, str } from '../schemas/fragments.js';
import type { KindDefinition } from '../registry/kind.js';
import type { Authorizer } from '../auth/authorizer.js';

export const authorizationGroup = 'authorization.k8s.io';

/** The review kinds, for discovery and OpenAPI (so `kubectl auth can-i` finds them); create-only, never stored. */
export const accessReviewKinds = (): KindDefinition[] => [
  { ...defineKind({ group: authorizationGroup, version: 'v1', kind: 'SelfSubjectAccessReview', categories: [], schema: objectSchema({ spec: freeform(), status: obj({ allowed: bool(), denied: bool(), reason: str() }) }) }), verbs: ['create'] },
  { ...defineKind({ group: authorizationGroup, version: 'v1', kind: 'SubjectAccessReview', categories: [], schema: objectSchema({ spec: freeform(), status: obj({ allowed: bool(), denied: bool(), reason: str() }) }) }), verbs: ['create'] },
  { ...defineKind({ group: authorizationGroup, version: 'v1', kind: 'SelfSubjectRulesReview', categories: [], schema: objectSchema({ spec: freeform(), status: freeform() }) }), verbs: ['create'] },
];

interface ResourceAttributes { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string }

/** "May I?": SelfSubjectAccessReview and SelfSubjectRulesReview, answered by the core's authorizer (the one every request meets). */
export function accessReviewRouter(authorizer: Authorizer): Router<AppState> {
  const router = new Router<AppState>();
  const prefix = `/apis/${authorizationGroup}/v1`;

  /** The decision for `user` on the review's attributes, answered as `kind`. */
  const review = async (ctx: AppContext, kind: string, spec: Record<string, unknown>, user: UserInfo) => {
    const ra = attributes(spec, 'resourceAttributes', ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name', 'workspace']) as ResourceAttributes | undefined;
    const nra = attributes(spec, 'nonResourceAttributes', ['path', 'verb']) as { path?: string; verb?: string } | undefined;
    if (!ra === !nra) throw badRequest('spec must have exactly one of resourceAttributes or nonResourceAttributes');
    const r: RequestInfo = ra
      ? { isResourceRequest: true, path: '', verb: ra.verb ?? '', apiGroup: ra.group ?? '', apiVersion: ra.version ?? '', namespace: ra.namespace ?? '', resource: ra.resource ?? '', subresource: ra.subresource ?? '', name: ra.name ?? '', parts: [] }
      : { isResourceRequest: false, path: nra!.path ?? '', verb: nra!.verb ?? '', apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', parts: [] };
    if (!r.verb) throw badRequest('the verb of the attributes is required');
    // The workspace a namespace belongs to counts, as it does for real requests.
    const workspace = (ra as { workspace?: string } | undefined)?.workspace;
    if (workspace) r.workspace = workspace;
    const decision = await authorizer.authorize(user, r);
    ctx.status = 201;
    ctx.body = {
      apiVersion: `${authorizationGroup}/v1`, kind, metadata: { creationTimestamp: null },
      spec, status: { allowed: decision.allowed, ...(decision.allowed ? {} : { denied: false }), reason: decision.reason },
    };
  };

  router.post(`${prefix}/selfsubjectaccessreviews`, async (ctx: AppContext) => {
    await review(ctx, 'SelfSubjectAccessReview', specOf(await readObjectBody(ctx.req)), ctx.state.user!);
  });

  // "May this subject?" — for backends deciding on behalf of a caller the gateway forwarded
  // (Kubernetes' SubjectAccessReview: spec.user and spec.groups as given, not looked up).
  router.post(`${prefix}/subjectaccessreviews`, async (ctx: AppContext) => {
    const spec = specOf(await readObjectBody(ctx.req));
    const user = ownValue(spec, 'user');
    const groups = ownValue(spec, 'groups') ?? [];
    if (typeof user !== 'string' || !user) throw badRequest('spec.user is required (a username)');
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) throw badRequest('spec.groups must be a list of strings');
    await review(ctx, 'SubjectAccessReview', spec, { username: user, groups: groups as string[], via: 'service' });
  });

  router.post(`${prefix}/selfsubjectrulesreviews`, async (ctx: AppContext) => {
    const spec = specOf(await readObjectBody(ctx.req));
    const { namespace, workspace } = (attributes({ spec }, 'spec', ['namespace', 'workspace']) ?? {}) as { namespace?: string; workspace?: string };
    // An authorizer that cannot enumerate what it grants answers nothing, marked incomplete (as Kubernetes' webhook authorizers do).
    const rules = authorizer.rulesFor?.(ctx.state.user!, { namespace: namespace || undefined, workspace: workspace || undefined });
    ctx.status = 201;
    ctx.body = {
      apiVersion: `${authorizationGroup}/v1`, kind: 'SelfSubjectRulesReview', metadata: { creationTimestamp: null }, spec,
      status: {
        resourceRules: (rules ?? []).filter((x) => x.resources?.length).map((x) => ({ verbs: x.verbs, apiGroups: x.apiGroups ?? [], resources: x.resources ?? [], ...(x.resourceNames?.length ? { resourceNames: x.resourceNames } : {}) })),
        nonResourceRules: (rules ?? []).filter((x) => x.nonResourceURLs?.length).map((x) => ({ verbs: x.verbs, nonResourceURLs: x.nonResourceURLs })),
        incomplete: rules === undefined,
      },
    };
  });
  return router;
}

/** The review's spec: an object (absent is empty). */
function specOf(body: unknown): Record<string, unknown> {
  const spec = ownValue(body, 'spec') ?? {};
  if (!isPlainObject(spec)) throw badRequest('spec must be an object');
  return spec;
}

/** `holder[field]`, an object of optional strings; anything else is a 400 naming the field. */
function attributes(holder: Record<string, unknown>, field: string, names: string[]): Record<string, string> | undefined {
  const v = ownValue(holder, field);
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw badRequest(`spec.${field} must be an object`);
  const out: Record<string, string> = {};
  for (const n of names) {
    const a = ownValue(v, n);
    if (a === undefined || a === null) continue;
    if (typeof a !== 'string') throw badRequest(`${field === 'spec' ? 'spec' : `spec.${field}`}.${n} must be a string`);
    out[n] = a;
  }
  return out;
}
