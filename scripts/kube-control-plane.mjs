// Starts a real Kubernetes control plane from the binaries scripts/kube-apiserver.mjs builds:
// Debian's etcd, kube-apiserver and kube-controller-manager (garbage collector and namespace
// controller; there is no kubelet) on random free ports, with the serving certificate the caller
// made, a static token file (an admin in system:masters, a user with no grants) and
// service-account keys. Used by the kubernetes-mode tests and by `npm run bench`.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'undici';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiserverBinary, controllerManagerBinary, etcdBinary } from './kube-apiserver.mjs';

export const kubeBinariesPresent = () => [apiserverBinary, controllerManagerBinary, etcdBinary].every((f) => existsSync(f));

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

/** A kubeconfig (JSON is YAML) for `token` against `server`. */
export function kubeconfigText(server, caPem, token) {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'user', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'user' } }],
  });
}

function run(binary, args, log) {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk) => {
    log.push(chunk.toString('utf8'));
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return child;
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/**
 * Starts etcd, kube-apiserver (serving `certs`) and kube-controller-manager; resolves once the
 * API server answers /readyz. The ports are free when picked, but another process (a test file
 * running beside) may take one before etcd or kube-apiserver binds it, seconds later: then the
 * whole plane is started again on new ports, up to three times.
 * @param {{caCertPem: string, certPem: string, keyPem: string}} certs
 */
export async function startControlPlane(certs) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startControlPlaneOnce(certs);
    } catch (e) {
      if (attempt >= 3 || !/address already in use/.test(String(e?.message))) throw e;
    }
  }
}

/** @param {{caCertPem: string, certPem: string, keyPem: string}} certs */
async function startControlPlaneOnce(certs) {
  if (!kubeBinariesPresent()) throw new Error('kube-apiserver is not built: run `node scripts/kube-apiserver.mjs` (npm test does it first)');
  const dir = mkdtempSync(join(tmpdir(), 'mortise-kube-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'serving.crt'), certs.certPem);
  writeFileSync(join(dir, 'serving.key'), certs.keyPem, { mode: 0o600 });
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  const adminToken = randomBytes(24).toString('hex');
  const nobodyToken = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n${nobodyToken},nobody,nobody-uid\n`, { mode: 0o600 });

  const logs = { etcd: [], apiserver: [], controllerManager: [] };
  const children = [];
  const stop = async () => {
    for (const c of children.reverse()) await stopChild(c);
    rmSync(dir, { recursive: true, force: true });
  };
  const server = `https://127.0.0.1:${apiPort}`;
  const dispatcher = new Agent({ connect: { ca: certs.caCertPem } });
  const kubeconfigPath = join(dir, 'kubeconfig');
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
    const deadline = Date.now() + 120_000;
    for (;;) {
      const exited = children.find((c) => c.exitCode !== null);
      if (exited) throw new Error(`${exited === children[0] ? 'etcd' : 'kube-apiserver'} exited: ${(exited === children[0] ? logs.etcd : logs.apiserver).join('').slice(-3000)}`);
      const status = await request(`${server}/readyz`, { dispatcher, headers: { authorization: `Bearer ${adminToken}` } })
        .then(async (res) => (await res.body.text(), res.statusCode), () => 0);
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready in 120 s: ${logs.apiserver.join('').slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    writeFileSync(kubeconfigPath, kubeconfigText(server, certs.caCertPem, adminToken), { mode: 0o600 });
    children.push(run(controllerManagerBinary, [
      `--kubeconfig=${kubeconfigPath}`, '--controllers=garbagecollector,namespace', '--leader-elect=false',
      '--port=0', '--secure-port=0', '--use-service-account-credentials=false', '--logtostderr=true', '-v=0',
    ], logs.controllerManager));
  } catch (e) {
    await dispatcher.close();
    await stop();
    throw e;
  }
  return {
    server, adminToken, nobodyToken, kubeconfigPath, dispatcher,
    async stop() {
      await dispatcher.close();
      await stop();
    },
  };
}
