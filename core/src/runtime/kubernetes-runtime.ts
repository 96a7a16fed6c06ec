// Extension backends as Deployments (kubernetes mode): one namespace per extension, a Deployment
// and a Service per backend instance, a restricted security context and resource limits by
// default; Ready when the Deployment reports its replica available (the cluster's kubelet runs
// the readiness probe on the manifest's health path). The gateway reaches the Service.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { StoreError, type KubeObject } from '../store/resource-store.js';
import type { KubeClient } from '../store/kube/kube-client.js';
import type { LogRead } from '../ops/durable-log.js';
import type { BackendLogLine, BackendSpec, BackendStatus, Runtime, RuntimeEvents } from './runtime.js';

export interface KubernetesRuntimeOptions {
  client: KubeClient;
  logger: Logger;
  /** The image of a backend whose manifest names none (a Node runner). */
  defaultImage?: string;
  /** Namespaces are `<prefix><extension>`. */
  namespacePrefix?: string;
  /** How often Deployment status is read while a backend is not Ready. */
  pollMs?: number;
}

const backendPort = 8080;
const dns = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');

/** The Deployment's name of a backend instance: `name@version` has an `@`, a Deployment name cannot. */
export function deploymentName(extension: string, version: string): string {
  return `${dns(extension)}-v${dns(version)}`.slice(0, 63).replace(/-+$/, '');
}

interface Tracked {
  spec: BackendSpec;
  status: BackendStatus;
  namespace: string;
  name: string;
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
    return `${this.prefix}${dns(extension)}`.slice(0, 63);
  }

  /** The Deployment and Service of a backend, as they are applied. */
  manifests(spec: BackendSpec): { deployment: KubeObject; service: KubeObject } {
    const namespace = this.namespaceOf(spec.extension);
    const name = deploymentName(spec.extension, spec.version);
    const labels = { 'app.kubernetes.io/name': dns(spec.extension), 'app.kubernetes.io/instance': name, 'app.kubernetes.io/managed-by': 'mortise' };
    const env = Object.entries({ ...spec.env, PORT: String(backendPort) }).map(([n, value]) => ({ name: n, value }));
    const deployment: KubeObject = {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name, namespace, labels, annotations: { 'mortise.io/backend-id': spec.id } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'app.kubernetes.io/instance': name } },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'backend',
              image: spec.image ?? this.opts.defaultImage ?? 'mortise/node-runner:20',
              ports: [{ name: 'http', containerPort: backendPort }],
              env,
              readinessProbe: { httpGet: { path: spec.healthPath, port: 'http' }, periodSeconds: 5 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '512Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            }],
          },
        },
      },
    };
    const service: KubeObject = {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace, labels },
      spec: { selector: { 'app.kubernetes.io/instance': name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    };
    return { deployment, service };
  }

  async start(spec: BackendSpec): Promise<BackendStatus> {
    const existing = this.backends.get(spec.id);
    if (existing && existing.status.state !== 'Stopped') return { ...existing.status };
    const { deployment, service } = this.manifests(spec);
    const namespace = deployment.metadata.namespace!;
    const name = deployment.metadata.name!;
    await this.createOrReplace('/api/v1/namespaces', '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/managed-by': 'mortise' } } }, false);
    await this.createOrReplace(`/apis/apps/v1/namespaces/${namespace}/deployments`, name, deployment, true);
    await this.createOrReplace(`/api/v1/namespaces/${namespace}/services`, name, service, false);
    const tracked: Tracked = {
      spec, namespace, name,
      status: { id: spec.id, state: 'Starting', url: `http://${name}.${namespace}.svc:80`, restarts: 0 },
    };
    this.backends.set(spec.id, tracked);
    this.emit('status', { ...tracked.status });
    this.poll(tracked);
    return { ...tracked.status };
  }

  private async createOrReplace(collection: string, name: string, obj: KubeObject, replace: boolean): Promise<void> {
    try {
      await this.opts.client.call('POST', collection, obj);
    } catch (e) {
      if (!(e instanceof StoreError && e.reason === 'AlreadyExists')) throw e;
      if (!replace) return;
      const current = await this.opts.client.call('GET', `${collection}/${name}`);
      await this.opts.client.call('PUT', `${collection}/${name}`, { ...obj, metadata: { ...obj.metadata, resourceVersion: current!.metadata.resourceVersion } });
    }
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
    for (const path of [`/apis/apps/v1/namespaces/${t.namespace}/deployments/${t.name}`, `/api/v1/namespaces/${t.namespace}/services/${t.name}`]) {
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
