import type { CoreClient, Identity } from '@mortise/extension-sdk/backend';
import type { Scope } from './query-engine.js';

// Who may read and write which logs, asked of the core's RBAC through its public API with the
// extension's service account (SubjectAccessReview): `get logs.logging.mortise.io` in a
// namespace to read its lines, at cluster scope to read everything (the platform's own logs
// included), `create logs` in its namespace for a service account to push. Answers are cached
// for a few seconds per subject.

export const logsGroup = 'logging.mortise.io';
const workspaceLabel = 'tenant.mortise.io/workspace';
const TTL_MS = 5_000;

interface Cached<T> { value: T; at: number }

export class Access {
  private readonly scopes = new Map<string, Cached<Promise<Scope>>>();
  private readonly reviews = new Map<string, Cached<Promise<boolean>>>();
  private namespaceCache: Cached<Promise<Map<string, string>>> | undefined;

  constructor(private readonly core: CoreClient) {}

  private fresh<T>(c: Cached<T> | undefined): c is Cached<T> {
    return c !== undefined && Date.now() - c.at < TTL_MS;
  }

  /** Whether the subject may `verb` logs in `namespace` ('' = cluster scope). */
  may(who: Identity, verb: string, namespace: string): Promise<boolean> {
    const key = JSON.stringify([who.username, [...who.groups].sort(), verb, namespace]);
    const hit = this.reviews.get(key);
    if (this.fresh(hit)) return hit.value;
    const value = this.core.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user: who.username, groups: who.groups, resourceAttributes: { group: logsGroup, resource: 'logs', verb, ...(namespace ? { namespace } : {}) } },
    }).then((r) => r.status?.allowed === true);
    value.catch(() => this.reviews.delete(key));
    if (this.reviews.size > 10_000) this.reviews.clear();
    this.reviews.set(key, { value, at: Date.now() });
    return value;
  }

  /** Namespace → its workspace ('' when none), as the core lists them. */
  namespaces(): Promise<Map<string, string>> {
    if (this.fresh(this.namespaceCache)) return this.namespaceCache.value;
    const value = this.core.request<{ items: Array<{ metadata: { name: string; labels?: Record<string, string> } }> }>('GET', '/api/v1/namespaces')
      .then((list) => new Map(list.items.map((n) => [n.metadata.name, n.metadata.labels?.[workspaceLabel] ?? ''])));
    value.catch(() => (this.namespaceCache = undefined));
    this.namespaceCache = { value, at: Date.now() };
    return value;
  }

  /** What the subject may read: 'all' with cluster-wide permission, else the namespaces that allow it. */
  scopeFor(who: Identity): Promise<Scope> {
    const key = JSON.stringify([who.username, [...who.groups].sort()]);
    const hit = this.scopes.get(key);
    if (this.fresh(hit)) return hit.value;
    const value = (async (): Promise<Scope> => {
      if (await this.may(who, 'get', '')) return 'all';
      const names = [...(await this.namespaces()).keys()];
      const allowed = await Promise.all(names.map((ns) => this.may(who, 'get', ns)));
      return new Set(names.filter((_, i) => allowed[i]));
    })();
    value.catch(() => this.scopes.delete(key));
    if (this.scopes.size > 10_000) this.scopes.clear();
    this.scopes.set(key, { value, at: Date.now() });
    return value;
  }
}

/** `system:serviceaccount:<ns>:<name>` → the namespace it pushes into. */
export function serviceAccountNamespace(username: string): string | undefined {
  return /^system:serviceaccount:([^:]+):[^:]+$/.exec(username)?.[1];
}
