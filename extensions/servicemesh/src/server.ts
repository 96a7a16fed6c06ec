import { createExtensionBackend, watchCollection } from '@mortise/extension-sdk/backend';
import { Access } from './access.js';
import { registerAdmissionRoute } from './admission-route.js';
import { registerApiRoutes } from './api-routes.js';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DataPlane } from './dataplane.js';
import { DataPlaneCluster } from './dataplane-cluster.js';
import { LocalDataPlaneView, type DataPlaneView } from './dataplane-view.js';
import { GrayReleaseController } from './gray-release.js';
import { MeshState } from './mesh-state.js';
import { chooseDataPlane, findNginx, installHint, NginxDataPlane, nginxLuaProblem } from './nginx-plane.js';
import { Telemetry } from './telemetry.js';
import { SpanStore } from './tracing.js';
import { meshGroup, meshVersion, plurals, type MeshKind } from './types.js';

// The service mesh backend: watches the mesh's kinds in the core, runs the data plane on the
// `dataplane` listener the runtime gave it, records telemetry and spans, drives GrayReleases, and
// answers the API, the metrics and the core's admission requests.

const backend = createExtensionBackend();
const log = (msg: string) => process.stderr.write(`${JSON.stringify({ level: 'info', extension: backend.name, msg })}\n`);
const config = backend.config as { traceCapacity?: number; analysisIntervalSeconds?: number; dataplaneWorkers?: number; dataPlane?: 'node' | 'nginx' | 'auto'; traceSamplesPerSecond?: number };

const state = new MeshState(log);
const traceCapacity = config.traceCapacity ?? 20_000;
// 0 (the default): a worker per core but one, left to the applications the mesh serves and to
// this process (on 2 cores, where workers measured slower than one process, that is 1); 1: the
// data plane runs in this process.
const workers = config.dataplaneWorkers || Math.max(1, availableParallelism() - 1);
// The native plane (nginx with its Lua module, run by this process) when asked for, or on `auto`
// (the default) when it is installed; else the Node plane, which needs nothing installed.
const choice = config.dataPlane ?? 'auto';
const found = choice === 'node' ? undefined : findNginx();
const nginxDir = join(backend.dataDir, 'nginx');
const luaProblem = found ? nginxLuaProblem(found, nginxDir) : 'no nginx binary';
const nginx = chooseDataPlane(choice, found, luaProblem === undefined) === 'nginx' ? found : undefined;
if (choice === 'auto' && !nginx) log(`dataPlane "auto": the Node data plane, since nginx with its Lua module cannot run here (${luaProblem}; ${installHint} for the native one)`);
const dataplane: DataPlaneView & { listen(port: number): Promise<string> } = nginx
  ? new NginxDataPlane({ state, dir: nginxDir, traceCapacity, log, nginx, workerProcesses: workers, ...(config.traceSamplesPerSecond !== undefined ? { traceSamplesPerSecond: config.traceSamplesPerSecond } : {}) })
  : workers > 1
    ? new DataPlaneCluster({ state, workers, traceCapacity, log })
    : new LocalDataPlaneView(new DataPlane({ state, telemetry: new Telemetry(), spans: new SpanStore(traceCapacity), log }));
const port = backend.listeners.dataplane;
if (port === undefined) throw new Error('no "dataplane" listener: the manifest declares backend.listeners[dataplane] and the runtime sets MORTISE_LISTENERS');
// Workers load while the rules are listed.
if (dataplane instanceof DataPlaneCluster) dataplane.start();
const access = new Access(backend.core);
let dataplaneUrl = '';

registerAdmissionRoute(backend, state, '/admission/validate');
const plane = { kind: nginx ? 'nginx' as const : 'node' as const, setting: choice, ...(choice !== 'node' && !nginx ? { reason: `nginx with its Lua module cannot run here (${luaProblem})` } : {}) };
registerApiRoutes({ backend, access, state, dataplane, dataplaneUrl: () => dataplaneUrl, plane });

// List-then-watch of each kind across namespaces (the SDK's informer): the cache is the rules'
// source of truth; nothing is kept on disk, so a restarted backend has every rule after its first list.
const watchers = (Object.keys(plurals) as MeshKind[]).map((kind) => watchCollection(backend.core, `/apis/${meshGroup}/${meshVersion}/${plurals[kind]}`, {
  onList: (items) => state.reset(kind, items as never),
  onEvent: (type, o) => state.apply(kind, type, o as never),
  onError: (e) => log(`watch of ${plurals[kind]} failed: ${e.message}; retrying`),
}));
const releases = new GrayReleaseController({
  core: backend.core, state, log, telemetry: (seconds) => dataplane.telemetry(seconds), synced: () => dataplane.synced(),
  intervalMs: (config.analysisIntervalSeconds ?? 1) * 1000,
});

// Rules first, so the first proxied request already has them; then the listeners.
await Promise.all(watchers.map((w) => w.synced));
dataplaneUrl = await dataplane.listen(port);
log(`data plane (dataPlane "${choice}": ${nginx ? 'nginx' : 'node'}) listening on ${dataplaneUrl} (${nginx ? `nginx ${nginx} with its Lua module, ${workers} worker processes` : workers > 1 ? `${workers} worker processes` : 'in the backend process'})`);
releases.start();
await backend.listen();
process.once('exit', () => {
  for (const w of watchers) w.stop();
  releases.stop();
});
