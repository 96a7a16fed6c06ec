import type { CoreClient, Identity } from '@mortise/extension-sdk/backend';
import { meshGroup } from './types.js';

// Who may see what, asked of the core's RBAC (SubjectAccessReview) with the extension's service
// account: a namespace's topology, metrics and traces need `get meshservices` there — what a
// namespace viewer holds; cluster-wide views (the Prometheus endpoint) need it at cluster scope.
// Answers are cached for a few seconds per subject.

const TTL_MS = 5_000;

export class Access {
  private readonly cache = new Map<string, { value: Promise<boolean>; at: number }>();

  constructor(private readonly core: CoreClient) {}

  may(who: Identity, verb: string, resource: string, namespace: string, name?: string): Promise<boolean> {
    const key = JSON.stringify([who.username, [...who.groups].sort(), verb, resource, namespace, name ?? '']);
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
    const value = this.core.post<{ status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user: who.username, groups: who.groups, resourceAttributes: { group: meshGroup, resource, verb, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) } },
    }).then((r) => r.status?.allowed === true);
    value.catch(() => this.cache.delete(key));
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { value, at: Date.now() });
    return value;
  }
}
