import { invalid } from '../api/status.js';
import type { ResourceStrategy } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';
import { extensionsGroup } from '../schemas/extensions.js';

type Credentials = { username?: string; password?: string; bearerToken?: string };

const credentialsOf = (o: KubeObject) => (o.spec as { credentials?: Credentials } | undefined)?.credentials;
const urlOf = (o: KubeObject) => (o.spec as { url?: unknown } | undefined)?.url;

/** scheme://host:port of a URL (the default port left out), or the text itself when it is no URL. */
export function originOf(url: unknown): string {
  if (typeof url !== 'string') return '';
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return url;
  }
}

/**
 * A repository's credentials are write-only, like a user's password: stored for the sync
 * controller, never shown by get, list or watch. An update that leaves a secret out keeps it —
 * but only while the URL stays on the same origin (scheme, host and port): a secret belongs to
 * the server it was given for, so moving the URL elsewhere without saying the credentials again
 * is refused rather than sending the old secret to the new host.
 */
export const repositoryStrategy: ResourceStrategy = {
  prepareForUpdate(obj, old) {
    const next = credentialsOf(obj);
    const prev = credentialsOf(old);
    if (!next || !prev) return;
    const keepPassword = next.password === undefined && prev.password !== undefined && next.username === prev.username;
    const keepToken = next.bearerToken === undefined && prev.bearerToken !== undefined && next.username === undefined;
    if (!keepPassword && !keepToken) return;
    const from = originOf(urlOf(old));
    const to = originOf(urlOf(obj));
    if (from !== to) {
      throw invalid(extensionsGroup, 'Repository', old.metadata.name!, [{
        reason: 'FieldValueRequired', field: `spec.credentials.${keepToken ? 'bearerToken' : 'password'}`,
        message: `Required value: spec.url moves from ${from} to ${to}; the stored ${keepToken ? 'bearer token' : 'password'} was given for ${from} and is not sent anywhere else: supply the credentials for ${to} again in the same update (or remove spec.credentials)`,
      }]);
    }
    if (keepPassword) next.password = prev.password;
    if (keepToken) next.bearerToken = prev.bearerToken;
  },
  toExternal(obj) {
    const c = credentialsOf(obj);
    if (!c || (c.password === undefined && c.bearerToken === undefined)) return obj;
    const { password: _p, bearerToken: _t, ...shown } = c;
    return { ...obj, spec: { ...(obj.spec as object), credentials: shown } };
  },
};
