import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { createCore } from '../../core/dist/server.js';
import { createLogger } from '../../core/dist/ops/logger.js';
import { generateServingCerts } from '../../core/dist/http/serving-cert-generation.js';
import { kubeBinariesPresent, startControlPlane } from '../../scripts/kube-control-plane.mjs';

// The kubernetes mode: the same create/get/list through the core (Mortise's authentication,
// RBAC, validation, admission in front of the cluster) and straight to the kube-apiserver behind
// it, same client (undici over TLS), same run; the ratio is what the core costs.

export interface Measure {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface KubeBenchResult {
  rows: Array<{ name: string; core: Measure; direct: Measure }>;
}

/** A closed loop of `concurrency` workers for `seconds`; latencies in ms. */
async function closedLoop(concurrency: number, seconds: number, one: (i: number) => Promise<boolean>): Promise<Measure> {
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const t0 = performance.now();
      const ok = await one(n++).catch(() => false);
      latencies.push(performance.now() - t0);
      if (!ok) errors++;
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(2));
  return { rps: Math.round(latencies.length / seconds), p50: at(50), p99: at(99), errors };
}

export async function kubeModeBench(seconds: number, concurrency = 16): Promise<KubeBenchResult | undefined> {
  if (!kubeBinariesPresent()) return undefined;
  const certs = await generateServingCerts(['127.0.0.1', 'localhost']);
  const cluster = await startControlPlane(certs);
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-kube-'));
  const core = await createCore({
    host: '127.0.0.1', port: 0, dataDir, adminPassword: 'bench-admin-password', logger: createLogger({ level: 'silent' }),
    mode: 'kubernetes', kubeconfig: cluster.kubeconfigPath, namespace: 'mortise-bench',
  });
  try {
    await core.listen();
    const tokenRes = await fetch(`${core.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: 'bench-admin-password' }) });
    const coreToken = ((await tokenRes.json()) as { access_token: string }).access_token;
    const coreAgent = new Agent({ connect: { ca: core.certs.caCertPem }, connections: concurrency });
    const targets = {
      core: { base: core.httpsUrl, token: coreToken, dispatcher: coreAgent },
      direct: { base: cluster.server, token: cluster.adminToken, dispatcher: cluster.dispatcher },
    };
    const call = async (t: typeof targets.core, method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await request(`${t.base}${path}`, {
        method, dispatcher: t.dispatcher,
        headers: { authorization: `Bearer ${t.token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      await res.body.text();
      return res.statusCode >= 200 && res.statusCode < 300;
    };
    const cms = '/api/v1/namespaces/bench/configmaps';
    if (!(await call(targets.core, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench' } }))) throw new Error('could not create the bench namespace');
    const rows: KubeBenchResult['rows'] = [];
    for (const [name, fn] of [
      ['create ConfigMap', (t: typeof targets.core) => (i: number) => call(t, 'POST', cms, { metadata: { generateName: `c${i}-` }, data: { k: 'v' } })],
      ['get ConfigMap', (t: typeof targets.core) => () => call(t, 'GET', `${cms}/fixed`)],
      ['list ConfigMaps (limit 50)', (t: typeof targets.core) => () => call(t, 'GET', `${cms}?limit=50`)],
    ] as const) {
      if (name === 'get ConfigMap') await call(targets.core, 'POST', cms, { metadata: { name: 'fixed' }, data: { k: 'v' } });
      const coreM = await closedLoop(concurrency, seconds, fn(targets.core));
      const direct = await closedLoop(concurrency, seconds, fn(targets.direct));
      rows.push({ name, core: coreM, direct });
    }
    await coreAgent.close();
    return { rows };
  } finally {
    await core.close();
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
