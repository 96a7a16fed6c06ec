// A serving worker of a multi-process core (forked by ClusterPrimary; docs/operations.md):
// clients' requests answered from a read-only replica of the store, writes made by the primary.
import cluster from 'node:cluster';
import { join } from 'node:path';
import { configFromEnv } from '../config.js';
import { createCore } from '../server.js';
import { LogBuffer } from '../ops/log-buffer.js';
import { createLogger } from '../ops/logger.js';
import { EncryptionKeys } from '../store/encryption-keys.js';
import { isMessage, type ToPrimary, type ToWorker } from './messages.js';
import { PrimaryRoutes } from './primary-routes.js';
import { ReplicaStore } from './replica-store.js';
import { BackendsView, ForwardedAuditLog } from './worker-services.js';

if (!cluster.isWorker || !process.send) throw new Error('worker-main runs as a worker of the core\'s primary process (MORTISE_WORKERS)');
const send = (m: ToPrimary) => {
  if (process.connected) process.send!(m);
};
const config = configFromEnv();
const dataDir = config.dataDir!;
// The replica opens the file and listens for the primary's events in the same tick: an event
// that arrived earlier was committed before the file was opened, so reads see it.
const store = new ReplicaStore({
  path: join(dataDir, 'mortise.db'), send,
  encrypted: { resources: ['/secrets'], codec: EncryptionKeys.loadOrCreate(join(dataDir, 'encryption-keys')) },
});
const backends = new BackendsView();
const primaryRoutes = new PrimaryRoutes();
let acked = 0;
let ackQueued = false;
let core: Awaited<ReturnType<typeof createCore>> | undefined;
process.on('message', (m: unknown) => {
  if (!isMessage<ToWorker>(m)) return;
  switch (m.mortise) {
    case 'event':
      store.receive(m.event);
      acked = Number(m.event.resourceVersion);
      // One acknowledgement for a run of events (they are taken in synchronously, in order).
      if (!ackQueued) {
        ackQueued = true;
        setImmediate(() => {
          ackQueued = false;
          send({ mortise: 'ack', resourceVersion: acked });
        });
      }
      return;
    case 'written':
      store.written(m.id, m.result, m.error);
      return;
    case 'backends':
      backends.update(m.backends);
      return;
    case 'primary':
      primaryRoutes.setPrimary(m.url);
      return;
    case 'metrics':
      void (core ? core.metrics.registry.getMetricsAsJSON() : Promise.resolve([])).then((metrics) => send({ mortise: 'metrics', id: m.id, metrics }));
      return;
  }
});

const workerId = String(cluster.worker!.id);
// Its log lines say which worker wrote them.
const logBuffer = new LogBuffer();
core = await createCore({
  ...config, store, runtime: backends, logBuffer,
  logger: createLogger({ level: config.logLevel, buffer: logBuffer }).child({ worker: cluster.worker!.id }),
  cluster: {
    role: 'worker', audit: new ForwardedAuditLog(send),
    primaryRoutes: (fallback) => {
      const routed = primaryRoutes.listener(fallback);
      return (req, res) => {
        // Which process answered (load spread, debugging): one header, no other detail.
        res.setHeader('x-mortise-worker', workerId);
        routed(req, res);
      };
    },
  },
});
primaryRoutes.logger = core.logger;
await core.listen();
send({ mortise: 'listening', url: core.url, httpsUrl: core.httpsUrl });

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  core!.close().finally(() => {
    primaryRoutes.close();
    process.exit(0);
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Without its primary a worker cannot write nor learn of changes: it stops.
process.on('disconnect', stop);
