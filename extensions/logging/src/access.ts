import type { CoreClient, Identity } from '@mortise/extension-sdk/backend';
import type { Scope } from './query-engine.js';

// Who may read and write which logs, asked of the core's RBAC through its public API with the
// extension's service account (SubjectAccessReview): `get logs.logging.mortise.io` in a
// namespace to read its lines, at cluster scope to read everything (the platform's own logs
// included), `create logs` in its namespace for a service account to push. Answers are cached
// for a few seconds per subject. A namespace reads its lines from its creation on: lines of a
// namespace of the same name deleted before belonged to whoever had that one (platform admins,
// who read everything, still see them).

export const logsGroup = 'logging.mortise.io';
const workspaceLabel = 'tenant.mortise.io/workspace';
const TTL_MS = 5_000;

interface Cached<T> { value: T; at: number }
interface NamespaceInfo { workspace: string; createdNs: bigint }

export class Access {
  private readonly scopes = new Map<string, Cached<Promise<Scope>>>();
  private readonly reviews = new Map<string, Cached<Promise<boolean>>>();
  private namespaceCache: Cached<Promise<Map<string, NamespaceInfo>>> | undefined;
  /** A refresh of the list for a name it lacked, shared by the pushes waiting on it. */
  private refreshing: Promise<Map<string, NamespaceInfo>> | undefined;

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

  /** Namespace → its workspace and creation time, as the core lists them. */
  private namespaceInfo(refresh = false): Promise<Map<string, NamespaceInfo>> {
    if (!refresh && this.fresh(this.namespaceCache)) return this.namespaceCache.value;
    const value = this.core.request<{ items: Array<{ metadata: { name: string; labels?: Record<string, string>; creationTimestamp?: string } }> }>('GET', '/api/v1/namespaces')
      .then((list) => new Map(list.items.map((n) => {
        // Whole seconds; a namespace without one reads nothing older than now.
        const ms = Date.parse(n.metadata.creationTimestamp ?? '');
        return [n.metadata.name, { workspace: n.metadata.labels?.[workspaceLabel] ?? '', createdNs: BigInt(Number.isNaN(ms) ? Date.now() : ms) * 1_000_000n }];
      })));
    value.catch(() => (this.namespaceCache = undefined));
    this.namespaceCache = { value, at: Date.now() };
    return value;
  }

  /**
   * The workspace of `namespace` ('' when none). A name the cached list lacks (a namespace
   * created within its 5 s) makes the list be asked again, so the first lines pushed into a new
   * namespace are not stored without their workspace. (Pushes come only from namespaces that
   * exist: a deleted one's service accounts and bindings went with it.)
   */
  async workspaceOf(namespace: string): Promise<string> {
    let info = await this.namespaceInfo();
    if (!info.has(namespace)) info = await (this.refreshing ??= this.namespaceInfo(true).finally(() => (this.refreshing = undefined)));
    return info.get(namespace)?.workspace ?? '';
  }

  /** Namespace → its workspace ('' when none), as the core lists them. */
  async namespaces(): Promise<Map<string, string>> {
    return new Map([...(await this.namespaceInfo())].map(([name, n]) => [name, n.workspace]));
  }

  /** What the subject may read: 'all' with cluster-wide permission, else the namespaces that allow it, each from its creation. */
  scopeFor(who: Identity): Promise<Scope> {
    const key = JSON.stringify([who.username, [...who.groups].sort()]);
    const hit = this.scopes.get(key);
    if (this.fresh(hit)) return hit.value;
    const value = (async (): Promise<Scope> => {
      if (await this.may(who, 'get', '')) return 'all';
      const names = [...(await this.namespaceInfo()).keys()];
      const allowed = await Promise.all(names.map((ns) => this.may(who, 'get', ns)));
      // Creation times listed after the answers: a name deleted and created again meanwhile
      // counts from its new creation, never from the one before (whose lines are another tenant's).
      const now = await this.namespaceInfo(true);
      const scope = new Map<string, bigint>();
      names.forEach((ns, i) => {
        const n = now.get(ns);
        if (allowed[i] && n) scope.set(ns, n.createdNs);
      });
      return scope;
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
