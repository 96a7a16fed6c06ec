import { createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createExtensionBackend, isNamespaceName, isObjectName, watchCollection, type CollectionWatch } from '@mortise/extension-sdk/backend';
import { registerAdmissionRoute } from './admission-route.js';
import { CronScheduler } from './cron-trigger.js';
import { WebhookDeliveries } from './webhook-deliveries.js';
import { deleteOrphanNamespaces, syncProject, uninstalling, type Project } from './project-controller.js';
import { pipelinePath, runsPath, RunExecutor } from './run-executor.js';
import { claimExpiry, claimLapse, RunClaims, type ClaimableRun, type ClaimedStatus } from './run-claim.js';
import { RunLog, type LogEntry } from './run-log.js';
import { resolveParameters } from './run-parameters.js';
import { probeSandbox } from './sandbox.js';
import type { KubeObject, PipelineSpec, RunSpec, RunStatus } from './pipeline-types.js';

// The DevOps backend: a controller that picks up PipelineRuns through the core's API (as the
// extension's service account), runs them in sandboxed child processes, and serves their logs
// (SSE), approvals and artifacts under its APIService, plus the git-host webhook.

// Webhook bodies stay unparsed: their signature is over the exact bytes sent.
// Stopping (disable, upgrade, uninstall) must finish inside the runtime's grace: the open log
// streams are cut after a second, then the runs in progress are stopped with the reason.
const backend = createExtensionBackend({ rawBodyPaths: ['/hooks/devops/*'], shutdownTimeoutMs: 1000, onShutdown: () => shutdown() });
const config = backend.config as { maxConcurrentRuns?: number; allowUnconfinedSteps?: boolean; localGitRoots?: string[]; checkoutAllowedHosts?: string[]; maxLogBytesPerStep?: number; bwrapPath?: string; runClaimSeconds?: number };
const dataDir = process.env.MORTISE_DATA_DIR ?? process.cwd();
const api = '/kapis/devops.mortise.io/v1alpha1';
const doneStates = new Set(['Succeeded', 'Failed', 'Aborted']);

// Confinement is checked before anything runs: a canary file of our own data dir must not be
// visible from inside the sandbox.
const canary = join(dataDir, 'sandbox-canary');
writeFileSync(canary, 'the sandbox must hide this file\n');
mkdirSync(join(dataDir, 'probe'), { recursive: true });
const sandbox = probeSandbox(join(dataDir, 'probe'), canary, config.bwrapPath);
const confined = sandbox.ok;
const mayRun = confined || config.allowUnconfinedSteps === true;
console.log(JSON.stringify({ msg: 'sandbox', confined, reason: sandbox.reason, allowUnconfinedSteps: config.allowUnconfinedSteps === true }));

const executors = new Map<string, RunExecutor>();
const pipelineCache = new Map<string, KubeObject<PipelineSpec>>();
const running = new Set<Promise<void>>();
const queue: Array<KubeObject<RunSpec, ClaimedStatus>> = [];
/** Runs queued or being executed here (by key). */
const local = new Set<string>();
/** Runs another backend holds: looked at again when their claim would expire. */
const rechecks = new Map<string, NodeJS.Timeout>();
let active = 0;
let stopping = false;
const maxActive = config.maxConcurrentRuns ?? 4;
const claims = new RunClaims(backend.core, config.runClaimSeconds ?? 15);
const key = (ns: string, name: string) => `${ns}/${name}`;
const runDir = (r: KubeObject) => join(dataDir, 'runs', r.metadata.namespace, `${r.metadata.name}-${r.metadata.uid ?? 'x'}`);

/** Status writes of a run this backend holds (dropped once another backend took it over). */
const saveStatus = (r: KubeObject) => (status: RunStatus) => claims.writeStatus(r.metadata.namespace, r.metadata.name, status);

async function startRun(queued: KubeObject<RunSpec, ClaimedStatus>): Promise<void> {
  const { namespace: ns, name } = queued.metadata;
  const k = key(ns, name);
  const claimed = await claims.claim(ns, name, queued as ClaimableRun).catch((e: Error) => {
    logError(`claiming run ${k}`)(e);
    return { kind: 'held', until: Date.now() + 1000 } as const;
  });
  if (claimed.kind === 'held') return recheckAt(k, ns, name, claimed.until);
  if (claimed.kind !== 'claimed') return; // finished, deleted, or claimed by another backend first: its events say what happens next
  const run = claimed.run;
  const dir = runDir(run);
  mkdirSync(dir, { recursive: true });
  let executor: RunExecutor | undefined;
  const log = new RunLog(join(dir, 'log.jsonl'), () => executor?.secretValues() ?? []);
  claims.hold(ns, name, () => executor?.abort());
  try {
    // Another backend held it and is gone: its steps died with it and are not resumed.
    if (claimed.previous && run.status?.phase !== 'Pending') {
      const message = claimed.previousGone === 'process-gone'
        ? `the DevOps backend restarted while the run was in progress (its holder ${claimed.previous.holder} is gone)`
        : `the DevOps backend holding the run (${claimed.previous.holder}) stopped renewing its claim while the run was in progress`;
      log.write('marker', `run failed: ${message}`);
      log.end();
      await saveStatus(run)({ ...(run.status as RunStatus), phase: 'Failed', message, completionTime: new Date().toISOString() });
      return;
    }
    if (!mayRun) throw new Error(`steps are not run: the sandbox does not work (${sandbox.reason}) and the configuration does not allow unconfined steps`);
    // The watched copy saves a round trip to the core on the way to the first step.
    const pipeline = pipelineCache.get(key(ns, run.spec.pipeline)) ?? await backend.core.get<KubeObject<PipelineSpec>>(pipelinePath(ns, run.spec.pipeline));
    executor = new RunExecutor(run, pipeline.spec, { workspace: join(dir, 'workspace'), artifacts: join(dir, 'artifacts') }, log, {
      core: backend.core, confined, bwrapPath: config.bwrapPath, localGitRoots: config.localGitRoots ?? [], checkoutAllowedHosts: (config.checkoutAllowedHosts ?? []).map((h) => h.toLowerCase()), maxLogBytesPerStep: config.maxLogBytesPerStep ?? 10 * 1024 * 1024,
      saveStatus: saveStatus(run),
    });
    executors.set(k, executor);
    if (run.spec.abort) executor.abort();
    await executor.execute();
  } catch (e) {
    log.write('marker', `run failed: ${(e as Error).message}`);
    log.end();
    await saveStatus(run)({ phase: 'Failed', message: (e as Error).message, completionTime: new Date().toISOString(), stages: executor?.status.stages ?? [] }).catch(() => undefined);
  } finally {
    // While stopping, the claim stays held until the stopping status is written.
    if (!stopping) claims.release(ns, name);
    executors.delete(k);
  }
}

/** Looks at a run again when the claim another backend holds on it would expire (renewals move the time). */
function recheckAt(k: string, ns: string, name: string, until: number): void {
  clearTimeout(rechecks.get(k));
  rechecks.set(k, setTimeout(() => {
    rechecks.delete(k);
    backend.core.get<KubeObject<RunSpec, ClaimedStatus>>(`${runsPath(ns)}/${name}`).then(handleRun, () => undefined);
  }, Math.max(0, until - Date.now()) + 50 + Math.floor(Math.random() * 200)));
}

function pump(): void {
  while (active < maxActive && queue.length) {
    const run = queue.shift()!;
    const k = key(run.metadata.namespace, run.metadata.name);
    active++;
    const p: Promise<void> = startRun(run).finally(() => {
      active--;
      local.delete(k);
      running.delete(p);
      pump();
    });
    running.add(p);
  }
}

/** A run listed or changed: abort it when asked; queue it when it is not finished and no live backend holds it. */
function handleRun(r: KubeObject<RunSpec, ClaimedStatus>): void {
  const k = key(r.metadata.namespace, r.metadata.name);
  if (r.spec.abort) {
    executors.get(k)?.abort();
    const queued = queue.findIndex((q) => key(q.metadata.namespace, q.metadata.name) === k);
    if (queued >= 0 && !r.status?.claim) {
      queue.splice(queued, 1);
      local.delete(k);
      void backend.core.patch(`${runsPath(r.metadata.namespace)}/${r.metadata.name}/status`, { status: { phase: 'Aborted', message: 'aborted before it started', completionTime: new Date().toISOString(), stages: [] } }).catch(() => undefined);
      return;
    }
  }
  if (r.status?.phase && doneStates.has(r.status.phase)) {
    clearTimeout(rechecks.get(k));
    rechecks.delete(k);
    return;
  }
  if (local.has(k)) return;
  const claim = r.status?.claim;
  if (claim && claim.holder !== claims.holder && !claimLapse(claim)) return recheckAt(k, r.metadata.namespace, r.metadata.name, claimExpiry(claim));
  local.add(k);
  queue.push(r);
  pump();
}

function forgetRun(r: KubeObject): void {
  const k = key(r.metadata.namespace, r.metadata.name);
  executors.get(k)?.abort();
  clearTimeout(rechecks.get(k));
  rechecks.delete(k);
  const queued = queue.findIndex((q) => key(q.metadata.namespace, q.metadata.name) === k);
  if (queued >= 0) {
    queue.splice(queued, 1);
    local.delete(k);
  }
}

const logError = (msg: string) => (e: Error) => console.error(JSON.stringify({ msg, err: e.message }));
const cron = new CronScheduler(backend.core, (msg, fields) => console.error(JSON.stringify({ msg, ...fields })));
const watches: CollectionWatch[] = [];

/** Watches (not polling): runs to execute or abort, pipelines' cron triggers, projects' namespaces. */
function startControllers(): void {
  const group = '/apis/devops.mortise.io/v1alpha1';
  watches.push(watchCollection<KubeObject<RunSpec, RunStatus>>(backend.core, `${group}/pipelineruns`, {
    onList: (items) => items.forEach(handleRun),
    onEvent: (type, r) => (type === 'DELETED' ? forgetRun(r) : handleRun(r)),
    onError: logError('watching pipelineruns'),
  }));
  type CronPipeline = Parameters<CronScheduler['sync']>[0];
  const syncCron = (p: CronPipeline) => cron.sync(p).catch(logError(`cron of ${p.metadata.namespace}/${p.metadata.name}`));
  watches.push(watchCollection<CronPipeline>(backend.core, `${group}/pipelines`, {
    onList: async (items) => {
      const now = new Set(items.map((p) => key(p.metadata.namespace, p.metadata.name)));
      for (const k of pipelineCache.keys()) if (!now.has(k)) cron.remove(...(k.split('/') as [string, string]));
      pipelineCache.clear();
      for (const p of items) pipelineCache.set(key(p.metadata.namespace, p.metadata.name), p);
      for (const p of items) await syncCron(p);
    },
    onEvent: async (type, p) => {
      const k = key(p.metadata.namespace, p.metadata.name);
      if (type === 'DELETED') {
        pipelineCache.delete(k);
        cron.remove(p.metadata.namespace, p.metadata.name);
        return;
      }
      pipelineCache.set(k, p);
      await syncCron(p);
    },
    onError: logError('watching pipelines'),
  }));
  const sync = (p: Project) => syncProject(backend.core, p).catch(logError(`project ${p.metadata.name}`));
  const projects = new Set<string>();
  const tidy = () => deleteOrphanNamespaces(backend.core, projects).catch(logError('deleting the namespaces of deleted projects'));
  watches.push(watchCollection<Project>(backend.core, `${group}/devopsprojects`, {
    onList: async (items) => {
      projects.clear();
      for (const p of items) projects.add(p.metadata.name);
      for (const p of items) await sync(p);
      await tidy();
    },
    onEvent: async (type, p) => {
      if (type === 'DELETED') {
        projects.delete(p.metadata.name);
        await tidy();
        return;
      }
      projects.add(p.metadata.name);
      await sync(p);
    },
    onError: logError('watching devopsprojects'),
  }));
}

/** Stopping: no new work; runs in progress are stopped and marked failed with the reason (never left Running). */
async function shutdown(): Promise<void> {
  stopping = true;
  for (const w of watches) w.stop();
  cron.stop();
  for (const t of rechecks.values()) clearTimeout(t);
  queue.length = 0;
  const inProgress = [...executors.values()];
  for (const ex of inProgress) ex.abort();
  await Promise.race([Promise.allSettled([...running]), new Promise((r) => setTimeout(r, 2000))]);
  await Promise.allSettled(inProgress.map((ex) => saveStatus(ex.run as KubeObject)({
    ...ex.status, phase: 'Failed', message: 'the DevOps backend was stopped (the extension was disabled, upgraded or uninstalled) while the run was in progress', completionTime: new Date().toISOString(),
  })));
  claims.stop();
  // Uninstalling: the projects are about to go with the CRD; their namespaces go now.
  if (await uninstalling(backend.core, 'devops')) await deleteOrphanNamespaces(backend.core, new Set()).catch(logError('deleting the projects\' namespaces'));
}

async function rawBody(req: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

// --- HTTP: what the sandbox is, logs (SSE), approvals, artifacts, webhooks -----------------

// Names from the path go into the core's URLs, read with the service account (which reads every
// namespace), while the core authorized only the path's namespace: a "name" with an encoded
// slash and dot segments (x%2F..%2F..%2F..%2Fother%2Fpipelineruns%2Fy) would climb into
// another namespace once the URL is resolved. Only Kubernetes names are accepted.
const validName = (param: string, value: string) => (param === 'ns' ? isNamespaceName(value) : isObjectName(value));
for (const param of ['ns', 'name']) {
  backend.router.param(param, (value, ctx, next) => {
    if (validName(param, value)) return next();
    ctx.status = 400;
    ctx.body = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 400, reason: 'BadRequest', message: `${JSON.stringify(value)} is not a valid name (${param === 'ns' ? 'a DNS label' : 'lowercase letters, digits, "-" and "."'})` };
  });
}

backend.router.get(`${api}/sandbox`, (ctx) => {
  ctx.body = { confined, reason: sandbox.reason, allowUnconfinedSteps: config.allowUnconfinedSteps === true, runningSteps: mayRun };
});

backend.router.get(`${api}/namespaces/:ns/pipelineruns/:name/log`, async (ctx) => {
  const { ns, name } = ctx.params as { ns: string; name: string };
  const run = await backend.core.get<KubeObject<RunSpec, RunStatus>>(`${runsPath(ns)}/${name}`);
  // A run still queued has no log yet: wait for it to start (or to be finished elsewhere).
  let live = executors.get(key(ns, name));
  for (let waited = 0; !live && !doneStates.has(run.status?.phase ?? '') && !ctx.req.destroyed && waited < 600; waited++) {
    await new Promise((r) => setTimeout(r, 100));
    live = executors.get(key(ns, name));
    if (!live && waited % 10 === 9) run.status = (await backend.core.get<KubeObject<RunSpec, RunStatus>>(`${runsPath(ns)}/${name}`)).status;
  }
  const log = live?.log ?? new RunLog(join(runDir(run), 'log.jsonl'), () => []);
  const after = Number(ctx.get('last-event-id') || ctx.query.after || 0) || 0;
  ctx.respond = false;
  const res = ctx.res;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  const send = (e: LogEntry) => res.write(`id: ${e.id}\nevent: log\ndata: ${JSON.stringify(e)}\n\n`);
  let last = after;
  const onEntry = (e: LogEntry) => {
    if (e.id <= last) return;
    last = e.id;
    send(e);
  };
  const finish = () => {
    res.end('event: end\ndata: {}\n\n');
  };
  // Subscribe first, then replay: nothing written in between is lost, and ids filter duplicates.
  if (live && !log.ended) {
    log.on('entry', onEntry);
    log.once('end', finish);
    ctx.req.once('close', () => {
      log.off('entry', onEntry);
      log.off('end', finish);
    });
  }
  for (const e of log.read(after)) onEntry(e);
  if (!live || log.ended) finish();
});

/** A manual run: the core authorized `create pipelines/run`; the backend records who asked. */
backend.router.post(`${api}/namespaces/:ns/pipelines/:name/run`, async (ctx) => {
  const { ns, name } = ctx.params as { ns: string; name: string };
  const parameters: Record<string, string> = {};
  try {
    // The SDK parsed a JSON body; anything else is read and parsed here.
    const body = (ctx.request.body ?? JSON.parse((await rawBody(ctx.req)).toString('utf8') || '{}')) as { parameters?: Record<string, unknown> };
    for (const [k, v] of Object.entries(body.parameters ?? {})) if (typeof v === 'string') parameters[k] = v;
  } catch {
    ctx.status = 400;
    ctx.body = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 400, reason: 'BadRequest', message: 'the body must be JSON: {"parameters": {"NAME": "value"}}' };
    return;
  }
  const pipeline = pipelineCache.get(key(ns, name)) ?? await backend.core.get<KubeObject<PipelineSpec>>(pipelinePath(ns, name));
  // Values of the wrong kind are refused here, as the Run form refuses them, before a run exists.
  const { values, problems } = resolveParameters(pipeline.spec.parameters ?? [], parameters);
  if (problems.length) {
    ctx.status = 422;
    ctx.body = {
      kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 422, reason: 'Invalid',
      message: `the parameters of pipeline ${name} are invalid: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
      details: { name, group: 'devops.mortise.io', kind: 'pipelines', causes: problems.map((p) => ({ field: p.field, message: p.message, reason: 'FieldValueInvalid' })) },
    };
    return;
  }
  const created = await backend.core.post<KubeObject<RunSpec, RunStatus>>(runsPath(ns), {
    apiVersion: 'devops.mortise.io/v1alpha1', kind: 'PipelineRun', metadata: { generateName: `${name}-` },
    spec: { pipeline: name, parameters: values, triggeredBy: ctx.state.identity.username },
  });
  // Queued at once rather than when its watch event arrives (which then finds it queued here).
  handleRun(created);
  ctx.status = 201;
  ctx.body = created;
});

backend.router.post(`${api}/namespaces/:ns/pipelineruns/:name/approve`, (ctx) => {
  const { ns, name } = ctx.params as { ns: string; name: string };
  const user = ctx.state.identity.username;
  const ex = executors.get(key(ns, name));
  const result = ex ? ex.approve(user) : 'nothing-waiting';
  if (result === 'approved') {
    ctx.body = { kind: 'Status', apiVersion: 'v1', status: 'Success', message: `approved by ${user}` };
    return;
  }
  ctx.status = result === 'forbidden' ? 403 : 409;
  ctx.body = {
    kind: 'Status', apiVersion: 'v1', status: 'Failure', code: ctx.status, reason: result === 'forbidden' ? 'Forbidden' : 'Conflict',
    message: result === 'forbidden' ? `${user} may not approve this step (approvers: ${ex?.waitingApprovers()?.join(', ')})` : `the run ${name} is not waiting for an approval`,
  };
});

backend.router.get(`${api}/namespaces/:ns/pipelineruns/:name/artifacts/:file`, async (ctx) => {
  const { ns, name, file } = ctx.params as { ns: string; name: string; file: string };
  const run = await backend.core.get<KubeObject<RunSpec, RunStatus>>(`${runsPath(ns)}/${name}`);
  const path = join(runDir(run), 'artifacts', file);
  if (!/^[^/\\]+$/.test(file) || file.startsWith('.') || !existsSync(path)) {
    ctx.status = 404;
    ctx.body = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound', message: `the run ${name} has no artifact ${file}` };
    return;
  }
  ctx.set('content-disposition', `attachment; filename="${file}"`);
  ctx.type = 'application/octet-stream';
  ctx.body = createReadStream(path);
});

/** POST /hooks/devops/<namespace>/<pipeline>: a GitHub/Gitea push, proved by X-Hub-Signature-256. */
registerAdmissionRoute(backend, '/admission/validate');

const deliveries = new WebhookDeliveries(backend.core, runsPath);

backend.router.post('/hooks/devops/:namespace/:pipeline', async (ctx) => {
  const { namespace: ns, pipeline } = ctx.params as { namespace: string; pipeline: string };
  const body = await rawBody(ctx.req);
  const refuse = (code: number, message: string) => {
    ctx.status = code;
    ctx.body = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason: code === 401 ? 'Unauthorized' : 'NotFound', message };
  };
  // A path that is not a namespace and a pipeline name is answered as a pipeline that does not exist.
  if (!validName('ns', ns) || !validName('name', pipeline)) return refuse(401, 'the signature does not match');
  let spec: PipelineSpec;
  try {
    spec = (await backend.core.get<KubeObject<PipelineSpec>>(pipelinePath(ns, pipeline))).spec;
  } catch {
    return refuse(401, 'the signature does not match'); // never tells an anonymous caller which pipelines exist
  }
  const ref = spec.triggers?.webhook?.secretRef;
  if (!ref) return refuse(401, 'the signature does not match');
  const secret = await backend.core.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/${ref.name}`).catch(() => undefined);
  const keyBytes = Buffer.from(secret?.data?.[ref.key] ?? '', 'base64');
  // Compared as bytes: a header as long as the expected one in characters but not in bytes
  // (a non-ASCII character) made timingSafeEqual throw, a 500 instead of the 401.
  const given = Buffer.from(ctx.get('x-hub-signature-256'));
  const expected = Buffer.from(`sha256=${createHmac('sha256', keyBytes).update(body).digest('hex')}`);
  if (keyBytes.length === 0 || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return refuse(401, 'the signature does not match');
  }
  let payload: { ref?: string; after?: string } = {};
  try {
    payload = JSON.parse(body.toString('utf8')) as typeof payload;
  } catch {
    // A signed body that is not JSON still triggers; it just carries no ref.
  }
  const parameters: Record<string, string> = {};
  if (typeof payload.ref === 'string') parameters.GIT_REF = payload.ref.replace(/^refs\/heads\//, '');
  if (typeof payload.after === 'string') parameters.GIT_COMMIT = payload.after;
  const triggeredBy = `webhook (${ctx.get('x-github-event') || ctx.get('x-gitea-event') || 'push'})`;
  const { run, created } = await deliveries.once(ns, pipeline, body, (labels) => backend.core.post<KubeObject>(runsPath(ns), {
    apiVersion: 'devops.mortise.io/v1alpha1', kind: 'PipelineRun', metadata: { generateName: `${pipeline}-`, labels },
    spec: { pipeline, parameters, triggeredBy },
  }).then((r) => r.metadata.name));
  ctx.status = created ? 201 : 200;
  ctx.body = created ? { run } : { run, duplicate: true };
});

startControllers();
await backend.listen();
