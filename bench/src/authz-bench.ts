import { RbacAuthorizer } from '../../core/dist/iam/rbac-authorizer.js';
import { RbacIndex } from '../../core/dist/iam/rbac-index.js';
import { SqliteStore } from '../../core/dist/store/sqlite-store.js';
import type { RequestInfo } from '../../core/dist/api/request-info.js';

export interface AuthzFigures {
  roles: number;
  bindings: number;
  uncachedPerSec: number;
  cachedPerSec: number;
}

const iam = 'iam.mortise.io';

/** Decisions per second over an index of `roles` roles and `bindings` bindings in 100 workspaces and 100 namespaces. */
export async function authzDecisions(roles = 1000, bindings = 10_000): Promise<AuthzFigures> {
  const store = new SqliteStore({ path: ':memory:' });
  const meta = (name: string, extra: object = {}) => ({ name, uid: name, ...extra });
  for (let i = 0; i < 100; i++) {
    await store.create({ group: '', resource: 'namespaces' }, { metadata: meta(`ns-${i}`, { labels: { 'tenant.mortise.io/workspace': `ws-${i % 100}` } }) });
  }
  for (let i = 0; i < roles; i++) {
    const rules = [{ apiGroups: [`g${i % 7}.example.io`], resources: [`things${i % 13}`], verbs: ['get', 'list'] }];
    if (i % 3 === 0) await store.create({ group: iam, resource: 'globalroles' }, { metadata: meta(`gr-${i}`), rules });
    else if (i % 3 === 1) await store.create({ group: iam, resource: 'workspaceroles' }, { metadata: meta(`wr-${i}`, { labels: { 'tenant.mortise.io/workspace': `ws-${i % 100}` } }), rules });
    else await store.create({ group: iam, resource: 'roles' }, { metadata: meta(`r-${i}`, { namespace: `ns-${i % 100}` }), rules });
  }
  for (let i = 0; i < bindings; i++) {
    const role = i % roles;
    const subjects = [{ kind: 'User', name: `user-${i % 2000}` }];
    if (role % 3 === 0) await store.create({ group: iam, resource: 'globalrolebindings' }, { metadata: meta(`grb-${i}`), roleRef: { kind: 'GlobalRole', name: `gr-${role}` }, subjects });
    else if (role % 3 === 1) await store.create({ group: iam, resource: 'workspacerolebindings' }, { metadata: meta(`wrb-${i}`, { labels: { 'tenant.mortise.io/workspace': `ws-${role % 100}` } }), roleRef: { kind: 'WorkspaceRole', name: `wr-${role}` }, subjects });
    else await store.create({ group: iam, resource: 'rolebindings' }, { metadata: meta(`rb-${i}`, { namespace: `ns-${role % 100}` }), roleRef: { kind: 'Role', name: `r-${role}` }, subjects });
  }
  const index = new RbacIndex(store);
  await index.start();
  const authorizer = new RbacAuthorizer(index);
  const requests: Array<{ user: { username: string; groups: string[]; via: 'token' }; r: RequestInfo }> = [];
  for (let i = 0; i < 5000; i++) {
    requests.push({
      user: { username: `user-${i % 2000}`, groups: ['system:authenticated'], via: 'token' },
      r: { isResourceRequest: true, path: '', verb: i % 2 ? 'get' : 'delete', apiGroup: `g${i % 7}.example.io`, apiVersion: 'v1', namespace: `ns-${i % 100}`, resource: `things${i % 13}`, subresource: '', name: `x${i % 50}`, parts: [] },
    });
  }
  authorizer.decide(requests[0]!.user, requests[0]!.r); // builds the derived index once
  const measure = (fresh: boolean) => {
    const n = 50_000;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      if (fresh) index.generation++; // invalidates the decision cache, not the index
      const q = requests[i % requests.length]!;
      authorizer.decide(q.user, q.r);
    }
    return Math.round(n / ((performance.now() - start) / 1000));
  };
  const uncachedPerSec = measure(true);
  const cachedPerSec = measure(false);
  index.stop();
  await store.close();
  return { roles, bindings, uncachedPerSec, cachedPerSec };
}
