// Extension backends as Deployments (kubernetes mode): one namespace per extension, a Deployment
// and a Service per backend instance, a restricted security context and resource limits by
// default; Ready when the Deployment reports its replica available (the cluster's kubelet runs
// the readiness probe on the manifest's health path). The gateway reaches the Service.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { RUNTIME_ENV } from '@mortise/extension-sdk/runtime';
import type { Logger } from 'pino';
import { StoreError, type KubeObject } from '../store/resource-store.js';
import type { KubeClient } from '../store/kube/kube-client.js';
import type { LogRead } from '../ops/durable-log.js';
import { backendDnsName, type BackendLogLine, type BackendSpec, type BackendStatus, type Runtime, type RuntimeEvents } from './runtime.js';

export interface KubernetesRuntimeOptions {
  client: KubeClient;
  logger: Logger;
  /** The stock Node runner that fetches a process backend's package from the core (deploy/node-runner/). */
  runnerImage?: string;
  /** Namespaces are `<prefix><extension>`. */
  namespacePrefix?: string;
  /** How often Deployment status is read while a backend is not Ready. */
  pollMs?: number;
}

export const defaultRunnerImage = 'mortise/node-runner:0.1.0';
const backendPort = 8080;
/** The first port of the manifest's `backend.listeners` (then one up per listener). */
const firstListenerPort = 8081;
/** Where the runner unpacks the package and where the backend writes (emptyDir volumes: the root filesystem is read-only). */
const packageMount = '/opt/mortise/unpacked';
const dataMount = '/var/lib/mortise/data';
/** The Deployment's hash of what it was made from: a replica or a restarted core finding it the same writes nothing. */
const specHashAnnotation = 'mortise.io/spec-hash';
const dns = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
const tokenVar = RUNTIME_ENV.token.name;

interface Tracked {
  spec: BackendSpec;
  status: BackendStatus;
  namespace: string;
  name: string;
  /** The Deployment's spec hash. */
  hash: string;
  timer?: NodeJS.Timeout;
}

export class KubernetesRuntime extends EventEmitter<RuntimeEvents> implements Runtime {
  private readonly backends = new Map<string, Tracked>();
  private readonly prefix: string;
  private readonly pollMs: number;

  constructor(private readonly opts: KubernetesRuntimeOptions) {
    super();
    this.prefix = opts.namespacePrefix ?? 'mortise-ext-';
    this.pollMs = opts.pollMs ?? 1000;
  }

  namespaceOf(extension: string): string {
    return `${this.prefix}${dns(extension)}`.slice(0, 63).replace(/-+$/, '');
  }

  /**
   * The Deployment, Service and token Secret of a backend, as they are applied. A process
   * backend (a package) runs in the stock runner image, which downloads the package from the
   * core, checks its digest and runs its entry; a container backend runs its own image.
   */
  manifests(spec: BackendSpec): { deployment: KubeObject; service: KubeObject; secret: KubeObject } {
    const namespace = this.namespaceOf(spec.extension);
    const name = backendDnsName(spec);
    const labels = { 'app.kubernetes.io/name': dns(spec.extension), 'app.kubernetes.io/instance': name, 'app.kubernetes.io/managed-by': 'mortise' };
    const listenerPorts = Object.fromEntries((spec.listeners ?? []).map((l, i) => [l, firstListenerPort + i]));
    const plain: Record<string, string> = {
      ...spec.env, PORT: String(backendPort), HOST: '0.0.0.0', [RUNTIME_ENV.dataDir.name]: dataMount,
      ...(spec.listeners?.length ? { [RUNTIME_ENV.listeners.name]: JSON.stringify(listenerPorts) } : {}),
      ...(spec.package ? { MORTISE_PACKAGE_URL: spec.package.url, MORTISE_PACKAGE_DIGEST: spec.package.digest, MORTISE_PACKAGE_ENTRY: spec.package.entry, MORTISE_PACKAGE_DIR: packageMount } : {}),
      ...(spec.nativeAddons ? { MORTISE_ALLOW_ADDONS: 'true' } : {}),
      ...(spec.allowChildProcesses ? { MORTISE_ALLOW_CHILD_PROCESSES: 'true' } : {}),
      ...(spec.allowWorkerThreads ? { MORTISE_ALLOW_WORKER_THREADS: 'true' } : {}),
    };
    const token = plain[tokenVar];
    delete plain[tokenVar];
    // The token is in a Secret (not in the Deployment, where anyone reading Deployments would see it).
    const env: Array<Record<string, unknown>> = Object.entries(plain).map(([n, value]) => ({ name: n, value }));
    if (token !== undefined) env.push({ name: tokenVar, valueFrom: { secretKeyRef: { name, key: 'token' } } });
    const template = {
      metadata: { labels },
      spec: {
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{
          name: 'backend',
          image: spec.image ?? this.opts.runnerImage ?? defaultRunnerImage,
          ports: [{ name: 'http', containerPort: backendPort }, ...Object.values(listenerPorts).map((port, i) => ({ name: `listener-${i}`, containerPort: port }))],
          env,
          readinessProbe: { httpGet: { path: spec.healthPath, port: 'http' }, periodSeconds: 5 },
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          volumeMounts: [
            { name: 'data', mountPath: dataMount }, { name: 'tmp', mountPath: '/tmp' },
            ...(spec.package ? [{ name: 'package', mountPath: packageMount }] : []),
          ],
        }],
        volumes: [
          { name: 'data', emptyDir: {} }, { name: 'tmp', emptyDir: {} },
          ...(spec.package ? [{ name: 'package', emptyDir: {} }] : []),
        ],
      },
    };
    const hash = createHash('sha256').update(JSON.stringify([template, spec.id])).digest('hex').slice(0, 16);
    const deployment: KubeObject = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name, namespace, labels, annotations: { 'mortise.io/extension': spec.extension, 'mortise.io/version': spec.version, [specHashAnnotation]: hash } },
      spec: { replicas: 1, selector: { matchLabels: { 'app.kubernetes.io/instance': name } }, template },
    };
    const service: KubeObject = {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace, labels },
      spec: { selector: { 'app.kubernetes.io/instance': name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    };
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels }, type: 'Opaque', stringData: { token: token ?? '' } };
    return { deployment, service, secret };
  }

  async start(spec: BackendSpec): Promise<BackendStatus> {
    const existing = this.backends.get(spec.id);
    const { deployment, service, secret } = this.manifests(spec);
    const hash = deployment.metadata.annotations![specHashAnnotation];
    if (existing && existing.status.state !== 'Stopped' && existing.status.state !== 'Failed' && existing.hash === hash) return { ...existing.status };
    const namespace = deployment.metadata.namespace!;
    const name = deployment.metadata.name!;
    await this.createIfMissing('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'mortise' } } });
    await this.ensureTokenSecret(namespace, name, secret);
    await this.ensureDeployment(namespace, name, deployment);
    await this.createIfMissing(`/api/v1/namespaces/${namespace}/services`, service);
    if (existing) clearTimeout(existing.timer);
    const tracked: Tracked = {
      spec, namespace, name, hash,
      status: { id: spec.id, extension: spec.extension, version: spec.version, state: 'Starting', url: `http://${name}.${namespace}.svc:80`, restarts: 0 },
    };
    this.backends.set(spec.id, tracked);
    this.emit('status', { ...tracked.status });
    await this.readStatus(tracked);
    this.poll(tracked);
    return { ...tracked.status };
  }

  private async createIfMissing(collection: string, obj: KubeObject): Promise<void> {
    try {
      await this.opts.client.call('POST', collection, obj);
    } catch (e) {
      if (!(e instanceof StoreError && e.reason === 'AlreadyExists')) throw e;
    }
  }

  /**
   * Created once; replaced only when what it is made from changed (its hash annotation): a core
   * that takes over from another, or restarts, finds it the same and writes nothing.
   */
  private async ensureDeployment(namespace: string, name: string, deployment: KubeObject): Promise<void> {
    const path = `/apis/apps/v1/namespaces/${namespace}/deployments`;
    const current = await this.opts.client.call('GET', `${path}/${name}`, undefined, { missingOk: true });
    if (!current) return this.createIfMissing(path, deployment);
    if (current.metadata.annotations?.[specHashAnnotation] === deployment.metadata.annotations![specHashAnnotation]) return;
    this.opts.logger.info({ namespace, name }, 'backend spec changed: replacing its Deployment');
    await this.opts.client.call('PUT', `${path}/${name}`, { ...deployment, metadata: { ...deployment.metadata, resourceVersion: current.metadata.resourceVersion } });
  }

  /** The backend's token, kept while it is valid for more than a day (another core's token is as good as ours). */
  private async ensureTokenSecret(namespace: string, name: string, secret: KubeObject): Promise<void> {
    const path = `/api/v1/namespaces/${namespace}/secrets`;
    const wanted = (secret as { stringData?: { token?: string } }).stringData?.token ?? '';
    const current = await this.opts.client.call('GET', `${path}/${name}`, undefined, { missingOk: true });
    if (!current) return this.createIfMissing(path, secret);
    const have = Buffer.from(((current as { data?: { token?: string } }).data?.token) ?? '', 'base64').toString('utf8');
    if (have === wanted || validForADay(have)) return;
    await this.opts.client.call('PUT', `${path}/${name}`, { ...secret, metadata: { ...secret.metadata, resourceVersion: current.metadata.resourceVersion } });
  }

  /** Reads the Deployment until it is available, then every few polls to notice it is not. */
  private poll(t: Tracked) {
    clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      void this.readStatus(t).finally(() => {
        if (t.status.state !== 'Stopped') this.poll(t);
      });
    }, this.pollMs);
    t.timer.unref();
  }

  private async readStatus(t: Tracked): Promise<void> {
    let deployment: KubeObject | undefined;
    try {
      deployment = await this.opts.client.call('GET', `/apis/apps/v1/namespaces/${t.namespace}/deployments/${t.name}`, undefined, { missingOk: true });
    } catch (e) {
      this.set(t, 'Unhealthy', (e as Error).message);
      return;
    }
    if (t.status.state === 'Stopped') return;
    if (!deployment) {
      this.set(t, 'Failed', 'the Deployment is gone');
      return;
    }
    const s = (deployment.status ?? {}) as { observedGeneration?: number; availableReplicas?: number; readyReplicas?: number; conditions?: Array<{ type: string; status: string; message?: string }> };
    const current = (s.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0);
    if (current && (s.availableReplicas ?? 0) >= 1) this.set(t, 'Ready');
    else {
      const failing = s.conditions?.find((c) => c.status === 'False');
      this.set(t, t.status.state === 'Ready' ? 'Unhealthy' : 'Starting', failing?.message);
    }
  }

  private set(t: Tracked, state: BackendStatus['state'], message?: string) {
    if (t.status.state === state && t.status.message === message) return;
    t.status = { ...t.status, state, ...(message ? { message } : {}) };
    if (!message) delete t.status.message;
    this.emit('status', { ...t.status });
  }

  async waitReady(id: string, timeoutMs: number): Promise<BackendStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = this.backends.get(id);
      if (!t) throw new Error(`no backend ${id}`);
      if (t.status.state === 'Ready') return { ...t.status };
      if (t.status.state === 'Failed' || t.status.state === 'Stopped') throw new Error(`backend ${id} is ${t.status.state}${t.status.message ? `: ${t.status.message}` : ''}`);
      if (Date.now() > deadline) throw new Error(`backend ${id} not ready within ${timeoutMs} ms${t.status.message ? `: ${t.status.message}` : ''}`);
      await new Promise((r) => setTimeout(r, Math.min(this.pollMs, 250)));
    }
  }

  async stop(id: string): Promise<void> {
    const t = this.backends.get(id);
    if (!t) return;
    t.status = { ...t.status, state: 'Stopped' };
    clearTimeout(t.timer);
    for (const path of [`/apis/apps/v1/namespaces/${t.namespace}/deployments/${t.name}`, `/api/v1/namespaces/${t.namespace}/services/${t.name}`, `/api/v1/namespaces/${t.namespace}/secrets/${t.name}`]) {
      await this.opts.client.call('DELETE', path, { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' }, { missingOk: true });
    }
    this.emit('status', { ...t.status });
  }

  status(id: string): BackendStatus | undefined {
    const t = this.backends.get(id);
    return t && { ...t.status };
  }

  list(): BackendStatus[] {
    return [...this.backends.values()].map((t) => ({ ...t.status }));
  }

  /** The cluster keeps a pod's log (kubectl logs); this runtime keeps none in memory. */
  async logs(): Promise<LogRead<BackendLogLine>> {
    return { lines: [], dropped: 0 };
  }

  /** A core that stops leaves the Deployments running (they outlive it); it only stops watching them. */
  async stopAll(): Promise<void> {
    for (const t of this.backends.values()) clearTimeout(t.timer);
  }
}

/** A JWT whose `exp` is more than a day away (the core's own token, read, not verified: only to decide whether to keep it). */
function validForADay(token: string): boolean {
  try {
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && exp * 1000 - Date.now() > 24 * 3600_000;
  } catch {
    return false;
  }
}
