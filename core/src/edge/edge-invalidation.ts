import type { DevRoutes } from '../gateway/dev-routes.js';
import type { Gateway } from '../gateway/gateway.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ResourceStore } from '../store/resource-store.js';
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
 * to a kind built into the core (users, sessions, roles, bindings, namespaces, routes,
 * extensions, signing keys — the whole set rather than a list that could miss one), a backend's
 * state (and the gateway's health source), the route table, a developer's route. Only objects of kinds defined by CRDs (extensions' own data,
 * which no decision reads) leave decisions alone.
 */
export function forgetDecisionsOnChange(epoch: EdgeEpoch, s: EdgeChangeSources): () => void {
  if (!(s.store instanceof SqliteStore)) throw new Error('the native edge (MORTISE_EDGE_LISTEN) needs the embedded store; in kubernetes mode, put the cluster\'s ingress in front');
  if (s.multiProcess) throw new Error('the native edge (MORTISE_EDGE_LISTEN) runs with one core process: unset MORTISE_WORKERS or set it to 1 (nginx serves on both cores)');
  // Commit listeners run in the writer's tick, before the write is answered and before any watcher.
  const stopCommits = s.store.onCommit((e) => {
    if (s.kinds.byGroupResource(e.ref.group, e.ref.resource)?.source !== 'crd') epoch.bump();
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
