import type { CoreConfig } from '../config.js';

/**
 * Where backends run: what `MORTISE_RUNTIME` says, else the mode's own (Deployments when the core
 * runs on a cluster, child processes otherwise). Deployments need a cluster.
 */
export function backendRuntimeOf(config: Pick<CoreConfig, 'backendRuntime'>, hasCluster: boolean): 'process' | 'kubernetes' {
  const chosen = config.backendRuntime ?? (hasCluster ? 'kubernetes' : 'process');
  if (chosen === 'kubernetes' && !hasCluster) throw new Error('MORTISE_RUNTIME=kubernetes runs backends as Deployments and needs MORTISE_MODE=kubernetes (a cluster)');
  return chosen;
}
