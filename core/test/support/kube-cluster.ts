// A real Kubernetes control plane for tests: Debian's etcd, kube-apiserver v1.20.2 and its
// controller manager (garbage collector and namespace controller only; there is no kubelet),
// built once by scripts/kube-apiserver.mjs into a cache outside the repository. Random free
// ports, a self-made CA and serving certificate, a static token file, service-account keys.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { apiserverBinary, controllerManagerBinary, etcdBinary } from '../../../scripts/kube-apiserver.mjs';
import { generateServingCerts } from '../../src/http/serving-certs.js';
import { freePort } from './child-core.js';

export interface KubeCluster {
  /** https://127.0.0.1:<port> */
  server: string;
  /** A bearer token of a cluster admin (group system:masters). */
  adminToken: string;
  caCertPem: string;
  /** A kubeconfig (text and file) for the admin. */
  kubeconfig: string;
  kubeconfigPath: string;
  /** A kubeconfig for a user of the cluster that is no admin (no RBAC grants). */
  userKubeconfig(user: 'nobody'): string;
  /** GET/POST/... straight to the API server as the admin. */
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export const kubeBinariesPresent = () => [apiserverBinary, controllerManagerBinary, etcdBinary].every((f) => existsSync(f));

function kubeconfigText(server: string, caPem: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'user', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'user' } }],
  });
}

function run(binary: string, args: string[], log: string[]): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString('utf8'));
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/** Starts etcd, kube-apiserver and kube-controller-manager; resolves once the API server is ready. */
export async function startKubeCluster(): Promise<KubeCluster> {
  if (!kubeBinariesPresent()) throw new Error('kube-apiserver is not built: run `node scripts/kube-apiserver.mjs` (npm test does it first)');
  const dir = mkdtempSync(join(tmpdir(), 'mortise-kube-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const certs = await generateServingCerts(['127.0.0.1', 'localhost']);
  writeFileSync(join(dir, 'ca.crt'), certs.caCertPem);
  writeFileSync(join(dir, 'serving.crt'), certs.certPem);
  writeFileSync(join(dir, 'serving.key'), certs.keyPem, { mode: 0o600 });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  const adminToken = randomBytes(24).toString('hex');
  const nobodyToken = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n${nobodyToken},nobody,nobody-uid\n`, { mode: 0o600 });

  const logs = { etcd: [] as string[], apiserver: [] as string[], controllerManager: [] as string[] };
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const c of children.reverse()) await stopChild(c);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    children.push(run(etcdBinary, [
      '--name', 'test', '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-cluster', `test=http://127.0.0.1:${peerPort}`, '--log-level', 'warn',
    ], logs.etcd));
    children.push(run(apiserverBinary, [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`, '--insecure-port=0',
      `--cert-dir=${dir}`, `--tls-cert-file=${join(dir, 'serving.crt')}`, `--tls-private-key-file=${join(dir, 'serving.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC',
      `--service-account-key-file=${join(dir, 'sa.pub')}`, `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc', '--service-cluster-ip-range=10.96.0.0/16',
      '--enable-priority-and-fairness=false', '--profiling=false', '--logtostderr=true', '-v=0',
    ], logs.apiserver));
    const server = `https://127.0.0.1:${apiPort}`;
    const dispatcher = new Agent({ connect: { ca: certs.caCertPem } });
    const api: KubeCluster['api'] = async (method, path, body, contentType = 'application/json') => {
      const res = await request(`${server}${path}`, {
        method: method as 'GET', dispatcher,
        headers: { authorization: `Bearer ${adminToken}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (healthz answers "ok")
      }
      return { status: res.statusCode, body: parsed };
    };
    const deadline = Date.now() + 120_000;
    for (;;) {
      const exited = children.find((c) => c.exitCode !== null);
      if (exited) throw new Error(`${exited === children[0] ? 'etcd' : 'kube-apiserver'} exited: ${(exited === children[0] ? logs.etcd : logs.apiserver).join('').slice(-3000)}`);
      const ready = await api('GET', '/readyz').catch(() => ({ status: 0 }));
      if (ready.status === 200) break;
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready in 120 s: ${logs.apiserver.join('').slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    const kubeconfig = kubeconfigText(server, certs.caCertPem, adminToken);
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });
    children.push(run(controllerManagerBinary, [
      `--kubeconfig=${kubeconfigPath}`, '--controllers=garbagecollector,namespace', '--leader-elect=false',
      '--port=0', '--secure-port=0', '--use-service-account-credentials=false', '--logtostderr=true', '-v=0',
    ], logs.controllerManager));
    return {
      server, adminToken, caCertPem: certs.caCertPem, kubeconfig, kubeconfigPath, api,
      userKubeconfig: () => kubeconfigText(server, certs.caCertPem, nobodyToken),
      async stop() {
        await dispatcher.close();
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
