import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { createExtensionBackend } from '@mortise/extension-sdk/backend';
import { Access } from './access.js';
import { AuditSource } from './audit-source.js';
import { DevopsRunSource } from './devops-run-source.js';
import { PlatformLogSource } from './platform-log-source.js';
import { ingestRoutes, type AppendedEvents } from './ingest.js';
import { defaultIngestLimits, type IngestLimits } from './ingest-limits.js';
import { QueryPool } from './query-pool.js';
import { queryRoutes } from './query-routes.js';
import { SqliteLogStore } from './sqlite-log-store.js';
import { attachTail } from './tail.js';

// The logging extension's backend: Loki's push and query API and OTLP/HTTP logs, under
// /proxy/logging/ (the gateway strips the prefix), over a SQLite store in the data directory.

interface Config {
  ingest?: Partial<IngestLimits>;
  retention?: { maxAgeHours?: number; maxBytes?: number; intervalSeconds?: number };
  audit?: { enabled?: boolean; intervalSeconds?: number };
  platformLogs?: { core?: boolean; extensions?: boolean; intervalSeconds?: number };
  devopsRuns?: { enabled?: boolean };
  /** Threads that run LogQL queries (default: one per core but one, at least one, at most 4). */
  queryWorkers?: number;
}

// Pushes are read raw: compressed, binary (protobuf) or larger than the helper's JSON bound.
const backend = createExtensionBackend({ onShutdown: () => shutdown(), rawBodyPaths: ['/loki/api/v1/push', '/otlp/v1/logs', '/v1/logs'] });
const config = backend.config as Config;
const dataDir = process.env.MORTISE_DATA_DIR ?? '.';
const store = new SqliteLogStore(join(dataDir, 'store'));
// Queries of lines on threads of their own, each reading the store through its own connection.
const queries = new QueryPool({ dir: join(dataDir, 'store'), size: config.queryWorkers });
const access = new Access(backend.core);
const events: AppendedEvents = new EventEmitter();
events.setMaxListeners(0);
const limits: IngestLimits = { ...defaultIngestLimits, ...config.ingest };

ingestRoutes(backend.router, { store, access, limits, events });
queryRoutes(backend.router, { store, access, queries });

const retention = config.retention ?? {};
const retentionTimer = setInterval(() => {
  store.enforceRetention({
    maxAgeMs: retention.maxAgeHours !== undefined ? retention.maxAgeHours * 3_600_000 : undefined,
    maxBytes: retention.maxBytes,
  });
}, (retention.intervalSeconds ?? 60) * 1000);
retentionTimer.unref();

const audit = config.audit?.enabled === false ? undefined : new AuditSource({
  core: backend.core, store, events, dataDir, intervalMs: (config.audit?.intervalSeconds ?? 5) * 1000,
  log: (msg) => process.stderr.write(`${msg}\n`),
});

const platformLogs = new PlatformLogSource({
  core: backend.core, store, events, dataDir, intervalMs: (config.platformLogs?.intervalSeconds ?? 10) * 1000,
  coreLog: config.platformLogs?.core !== false, extensionLogs: config.platformLogs?.extensions !== false,
  log: (msg) => process.stderr.write(`${msg}\n`),
});

// Pipeline-run logs of the devops extension whenever it is installed (before, after, or never).
const devopsRuns = config.devopsRuns?.enabled === false ? undefined : new DevopsRunSource({
  core: backend.core, store, events, access, dataDir,
  maxAgeMs: retention.maxAgeHours !== undefined ? retention.maxAgeHours * 3_600_000 : undefined,
  log: (msg) => process.stderr.write(`${msg}\n`),
});

function shutdown(): void {
  clearInterval(retentionTimer);
  audit?.stop();
  platformLogs.stop();
  devopsRuns?.stop();
  void queries.close();
  store.close();
}

const running = await backend.listen();
attachTail(running.server, { backend, queries, access, events });
audit?.start();
platformLogs.start();
devopsRuns?.start();
