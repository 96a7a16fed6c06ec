import { fileURLToPath } from 'node:url';
import type { CoreConfig } from '../config.js';
import { createCore, type Core } from '../server.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { ClusterPrimary } from './cluster-primary.js';

/**
 * The primary of a multi-process core: today's core (the store's single writer, the controllers,
 * the backends, the audit log), listening on loopback for its workers only, and `workers` forked
 * processes serving clients on the configured port.
 */
export async function servePrimary(config: CoreConfig, workers: number): Promise<{ core: Core; cluster: ClusterPrimary }> {
  let advertised: { url: string; httpsUrl: string } | undefined;
  let primary: ClusterPrimary | undefined;
  const core = await createCore({
    ...config, host: '127.0.0.1', port: 0,
    cluster: {
      role: 'primary', advertised: () => advertised, listening: (url) => primary!.setPrimaryUrl(url), metricsText: () => primary!.metricsText(),
    },
  });
  if (!(core.store instanceof SqliteStore)) throw new Error('MORTISE_WORKERS above 1 needs the embedded store (in kubernetes mode, run more replicas instead)');
  primary = new ClusterPrimary({
    workers, exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
    store: core.store, audit: core.audit, runtime: core.runtime, registry: core.metrics.registry, logger: core.logger,
  });
  advertised = await primary.start();
  await core.listen();
  return { core, cluster: primary };
}
