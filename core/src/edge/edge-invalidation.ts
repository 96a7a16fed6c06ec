import { createHash } from 'node:crypto';
import type { DevRoutes } from '../gateway/dev-routes.js';
import type { Gateway } from '../gateway/gateway.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { Runtime } from '../runtime/runtime.js';
import type { KubeObject, ResourceStore, StoreEvent } from '../store/resource-store.js';
import { usersRef } from '../auth/user-directory.js';
import { authorizationCodesRef, externalLoginStatesRef, loginRecordsRef, refreshTokensRef } from '../auth/internal-kinds.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { EdgeEpoch } from './edge-epoch.js';

export interface EdgeChangeSources {
  store: ResourceStore;
  kinds: KindRegistry;
  runtime: Runtime;
  devRoutes: DevRoutes;
  gateway: Gateway;
  /** A multi-process core (MORTISE_WORKERS ≥ 2): not supported with the edge. */
  multiProcess: boolean;
}

/**
 * Everything an edge decision reads starts a new epoch when it changes: every committed write
 * to a kind built into the core (users, revoked sessions, roles, bindings, namespaces, routes,
 * extensions, signing keys — the whole set rather than a list that could miss one, less the few
 * internal kinds no decision reads and sessions that are not revoked), a backend's
 * state (and the gateway's health source), the route table, a developer's route. Only objects of kinds defined by CRDs (extensions' own data,
 * which no decision reads) leave decisions alone.
 */
/**
 * Internal kinds whose writes no decision reads: a user's login history, OAuth codes and
 * external login states. Every login and token refresh writes them; with them counted, each
 * login emptied every nginx worker's decisions, everyone's.
 */
const unreadInternal = new Set([loginRecordsRef, authorizationCodesRef, externalLoginStatesRef].map((r) => `${r.group}/${r.resource}`));

/**
 * Whether a committed write may change a decision. A session (refresh token) matters only once
 * it is revoked (RevokedSessions: an access token's `sid` is refused from then on): a new one
 * (a login, a refresh) or one marked used by a refresh leaves every decision as it was.
 */
function changesDecisions(e: StoreEvent, kinds: KindRegistry, users: Map<string, string>): boolean {
  if (kinds.byGroupResource(e.ref.group, e.ref.resource)?.source === 'crd') return false;
  if (e.ref.group === usersRef.group && e.ref.resource === usersRef.resource) return userChanged(e, users);
  if (e.ref.group !== refreshTokensRef.group) return true;
  if (unreadInternal.has(`${e.ref.group}/${e.ref.resource}`)) return false;
  if (e.ref.resource === refreshTokensRef.resource) return (e.object?.data as { revoked?: unknown } | undefined)?.revoked === true;
  return true;
}

/**
 * A user as a decision may read it: all of it but when they last logged in (every login writes
 * `status.lastLoginTime`) and the bookkeeping of the write (version, managed fields). Kept per
 * user from the first write seen: a user's first change after the core starts always counts.
 */
function userChanged(e: StoreEvent, users: Map<string, string>): boolean {
  if (e.type === 'DELETED') {
    users.delete(e.name);
    return true;
  }
  const { metadata, status, ...rest } = e.object as KubeObject & { status?: Record<string, unknown> };
  const { resourceVersion: _version, managedFields: _fields, ...meta } = metadata;
  const { lastLoginTime: _lastLogin, ...state } = status ?? {};
  // A digest: the map holds no copy of a user (their password hash included), 43 bytes each.
  const fingerprint = createHash('sha256').update(JSON.stringify([meta, state, rest])).digest('base64url');
  const before = users.get(e.name);
  users.set(e.name, fingerprint);
  return e.type !== 'MODIFIED' || before !== fingerprint;
}

export function forgetDecisionsOnChange(epoch: EdgeEpoch, s: EdgeChangeSources): () => void {
  if (!(s.store instanceof SqliteStore)) throw new Error('the native edge (MORTISE_EDGE_LISTEN) needs the embedded store; in kubernetes mode, put the cluster\'s ingress in front');
  if (s.multiProcess) throw new Error('the native edge (MORTISE_EDGE_LISTEN) runs with one core process: unset MORTISE_WORKERS or set it to 1 (nginx serves on both cores)');
  const userFingerprints = new Map<string, string>();
  // Commit listeners run in the writer's tick, before the write is answered and before any watcher.
  const stopCommits = s.store.onCommit((e) => {
    if (changesDecisions(e, s.kinds, userFingerprints)) epoch.bump();
  });
  const onStatus = () => epoch.bump();
  s.runtime.on('status', onStatus);
  const stopDev = s.devRoutes.onChange(() => epoch.bump());
  const stopHealth = s.gateway.onHealthSourceChange(() => epoch.bump());
  // The route table is rebuilt after the commit that changed it: the epoch it then starts is the
  // one whose push finds the new backends (nginx reloads for them before taking it).
  const stopRoutes = s.gateway.routes.onChange(() => epoch.bump());
  return () => {
    stopRoutes();
    stopHealth();
    stopCommits();
    s.runtime.off('status', onStatus);
    stopDev();
  };
}
