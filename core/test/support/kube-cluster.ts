// A real Kubernetes control plane for tests (scripts/kube-control-plane.mjs: Debian's etcd,
// kube-apiserver and kube-controller-manager v1.20.2, built once by scripts/kube-apiserver.mjs
// into a cache outside the repository), with a serving certificate made for the run, and a
// small client for the tests that talk to it directly.
import { request } from 'undici';
import { kubeBinariesPresent, startControlPlane } from '../../../scripts/kube-control-plane.mjs';
import { generateServingCerts } from '../../src/http/serving-cert-generation.js';

export { kubeBinariesPresent };

export interface KubeCluster {
  /** https://127.0.0.1:<port> */
  server: string;
  /** A bearer token of a cluster admin (group system:masters). */
  adminToken: string;
  caCertPem: string;
  /** The admin's kubeconfig file. */
  kubeconfigPath: string;
  /** GET/POST/... straight to the API server as the admin. */
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** Starts etcd, kube-apiserver and kube-controller-manager; resolves once the API server is ready. */
export async function startKubeCluster(): Promise<KubeCluster> {
  const certs = await generateServingCerts(['127.0.0.1', 'localhost']);
  const cp = await startControlPlane(certs);
  const api: KubeCluster['api'] = async (method, path, body, contentType = 'application/json') => {
    const res = await request(`${cp.server}${path}`, {
      method: method as 'GET', dispatcher: cp.dispatcher,
      headers: { authorization: `Bearer ${cp.adminToken}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
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
  return {
    server: cp.server, adminToken: cp.adminToken, caCertPem: certs.caCertPem, kubeconfigPath: cp.kubeconfigPath, api,
    stop: () => cp.stop(),
  };
}
