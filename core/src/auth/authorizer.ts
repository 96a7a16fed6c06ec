import type { RequestInfo } from '../api/request-info.js';
import type { UserInfo } from '../http/app-state.js';

export interface Decision {
  allowed: boolean;
  reason: string;
}

/** Decides whether a user may do what a request asks. Runs before every handler and proxy. */
export interface Authorizer {
  authorize(user: UserInfo, request: RequestInfo): Promise<Decision>;
}

/** The request as a person reads it, for denial messages: `list namespaces in namespace "x"`. */
export function describeRequest(r: RequestInfo): string {
  if (!r.isResourceRequest) return `${r.verb} path "${r.path}"`;
  const res = `${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
  const what = `resource "${res}" in API group "${r.apiGroup}"`;
  const scope = r.namespace ? ` in the namespace "${r.namespace}"` : r.workspace ? ` in the workspace "${r.workspace}"` : ' at the cluster scope';
  return `${r.verb} ${what}${scope}`;
}
