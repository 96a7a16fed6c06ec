// Parses a request into the attributes that routing, authorization and audit all use, the
// way the Kubernetes apiserver's RequestInfoFactory does: one parser, one truth.

import { parseFieldSelector, type FieldSelector } from './selectors.js';

export interface RequestInfo {
  isResourceRequest: boolean;
  /** 'api' (core v1), 'apis' (named groups) or 'kapis' (non-CRUD and extension APIs). */
  prefix?: 'api' | 'apis' | 'kapis';
  path: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** Set for workspace-scoped paths (`/kapis/tenant.mortise.io/v1alpha1/workspaces/{ws}/...`). */
  workspace?: string;
  /**
   * Where `name` came from: the path, or (a list or watch) a `fieldSelector` that requires
   * `metadata.name=<name>`, as Kubernetes' RequestInfoFactory reads it. Either way a handler
   * serves that one object only: what was authorized is what is served.
   */
  nameFrom?: 'path' | 'fieldSelector';
  parts: string[];
  /**
   * `host` for the cluster's own API behind the core (`/clusters/host/api/...`, kubernetes
   * mode): the attributes are those of the path after the prefix, authorized by Mortise's RBAC.
   */
  cluster?: string;
}

/**
 * The attributes of a resource verb asked of the authorizer outside any request's path (an
 * admission checking what a write would grant, a workspace listing its members): what is not
 * given is empty.
 */
export function resourceAttributes(a: Pick<RequestInfo, 'verb' | 'apiGroup' | 'resource'> & Partial<Pick<RequestInfo, 'apiVersion' | 'namespace' | 'name' | 'subresource' | 'workspace'>>): RequestInfo {
  return { isResourceRequest: true, path: '', apiVersion: '', namespace: '', subresource: '', name: '', parts: [], ...a };
}

export const hostClusterPrefix = '/clusters/host';

const namespaceSubresources = new Set(['status', 'finalize']);
const listSubresources = new Set(['loginrecords']);

const httpVerb: Record<string, string> = {
  POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete', GET: 'get', HEAD: 'get',
};

export function parseRequestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  if (path.startsWith(`${hostClusterPrefix}/`)) {
    const inner = parseRequestInfo(method, path.slice(hostClusterPrefix.length), query);
    return inner.prefix === 'kapis' ? { ...inner, isResourceRequest: false, prefix: undefined, path } : { ...inner, path, cluster: 'host' };
  }
  const lowerVerb = method.toLowerCase();
  const nonResource: RequestInfo = {
    isResourceRequest: false, path, verb: lowerVerb, apiGroup: '', apiVersion: '', namespace: '',
    resource: '', subresource: '', name: '', parts: [],
  };
  // No segment of a path without "api" and escapes can be an API prefix (every proxied page and asset).
  if (!path.includes('api') && !path.includes('%')) return nonResource;
  const segments = path.split('/').filter((s) => s !== '').map(safeDecode);
  const prefix = segments[0];
  if (prefix !== 'api' && prefix !== 'apis' && prefix !== 'kapis') return nonResource;
  let rest = segments.slice(1);
  let apiGroup = '';
  let apiVersion = '';
  if (prefix === 'api') {
    if (rest.length < 1) return { ...nonResource, prefix };
    apiVersion = rest[0]!;
    rest = rest.slice(1);
  } else {
    if (rest.length < 2) return { ...nonResource, prefix };
    apiGroup = rest[0]!;
    apiVersion = rest[1]!;
    rest = rest.slice(2);
  }
  if (rest.length === 0) return { ...nonResource, prefix, apiGroup, apiVersion };
  // The deprecated `/watch/` prefix (`/apis/g/v/watch/namespaces/x/things/name`) is a watch.
  const watchPath = rest[0] === 'watch' && prefix !== 'kapis';
  if (watchPath) {
    rest = rest.slice(1);
    if (rest.length === 0) return { ...nonResource, prefix, apiGroup, apiVersion };
  }

  const info: RequestInfo = {
    isResourceRequest: true, prefix, path, verb: httpVerb[method] ?? lowerVerb, apiGroup, apiVersion,
    namespace: '', resource: '', subresource: '', name: '', parts: rest,
  };

  // Workspace scope (a KubeSphere-style path): /workspaces/{ws}/namespaces/{ns}/...
  if (prefix === 'kapis' && apiGroup === 'tenant.mortise.io' && rest[0] === 'workspaces' && rest.length >= 3) {
    info.workspace = rest[1];
    rest = rest.slice(2);
  }

  let scoped = false;
  if (rest[0] === 'namespaces') {
    if (rest.length > 1) {
      info.namespace = rest[1]!;
      if (rest.length > 2 && !namespaceSubresources.has(rest[2]!)) {
        rest = rest.slice(2);
        scoped = true;
      }
    }
  } else {
    info.namespace = '';
  }
  info.parts = rest;
  if (rest.length >= 3) info.subresource = rest[2]!;
  if (rest.length >= 2) info.name = rest[1]!;
  info.resource = rest[0]!;
  if (info.name) info.nameFrom = 'path';

  if (info.verb === 'get' || info.verb === 'delete') {
    if (info.name === '') info.verb = info.verb === 'get' ? 'list' : 'deletecollection';
  }
  // A subresource that is itself a collection (a user's login records) is listed, not got.
  if (info.verb === 'get' && info.prefix === 'kapis' && listSubresources.has(info.subresource)) info.verb = 'list';
  if (watchPath) info.verb = 'watch';
  else if ((info.verb === 'list' || info.verb === 'get') && isWatchParam(query.get('watch'))) info.verb = 'watch';
  // A list or watch selecting one name is a request for that object (Kubernetes authorizes it
  // against resourceNames), and the resource handler serves that object alone. Only the core's
  // resource API (/api, /apis) is held to that; /kapis routes and extension backends (proxied
  // only under /kapis and their own prefixes) need not read selectors, so there one names nothing.
  if ((info.verb === 'list' || info.verb === 'watch') && !info.name && prefix !== 'kapis' && !info.subresource) {
    const selected = exactNameOf(query.get('fieldSelector'));
    if (selected) {
      info.name = selected;
      info.nameFrom = 'fieldSelector';
    }
  }
  // A namespace named by its own resource path is the object itself, not a scope.
  if (info.resource === 'namespaces' && info.name && !scoped) info.namespace = info.name;
  return info;
}

/** `watch=1` and `watch=true` ask for a watch (what client-go and kubectl send). */
export function isWatchParam(value: string | null): boolean {
  return value === '1' || value === 'true';
}

/**
 * The name a field selector requires exactly (`metadata.name=x` or `==`, among other terms), as
 * apimachinery's RequiresExactMatch; undefined when it requires none, or is malformed (then the
 * handler refuses it) or the name could not be a path segment.
 */
export function exactNameOf(fieldSelector: string | null | undefined): string | undefined {
  if (!fieldSelector) return undefined;
  let selector: FieldSelector;
  try {
    selector = parseFieldSelector(fieldSelector);
  } catch {
    return undefined;
  }
  const term = selector.find((r) => r.field === 'metadata.name' && r.equal);
  if (!term || term.value === '' || term.value === '.' || term.value === '..' || /[/%]/.test(term.value)) return undefined;
  return term.value;
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
