import type { ResourceStrategy } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';

type Credentials = { username?: string; password?: string; bearerToken?: string };

const credentialsOf = (o: KubeObject) => (o.spec as { credentials?: Credentials } | undefined)?.credentials;

/**
 * A repository's credentials are write-only, like a user's password: stored for the sync
 * controller, never shown by get, list or watch. An update that leaves a secret out keeps it.
 */
export const repositoryStrategy: ResourceStrategy = {
  prepareForUpdate(obj, old) {
    const next = credentialsOf(obj);
    const prev = credentialsOf(old);
    if (!next || !prev) return;
    if (next.password === undefined && prev.password !== undefined && next.username === prev.username) next.password = prev.password;
    if (next.bearerToken === undefined && prev.bearerToken !== undefined && next.username === undefined) next.bearerToken = prev.bearerToken;
  },
  toExternal(obj) {
    const c = credentialsOf(obj);
    if (!c || (c.password === undefined && c.bearerToken === undefined)) return obj;
    const { password: _p, bearerToken: _t, ...shown } = c;
    return { ...obj, spec: { ...(obj.spec as object), credentials: shown } };
  },
};
