import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { call, closedLoop, type ApiTarget, type Measure } from './closed-loop.js';
import { createCore } from '../../core/dist/server.js';
import { createLogger } from '../../core/dist/ops/logger.js';
import { generateServingCerts } from '../../core/dist/http/serving-cert-generation.js';
import { kubeBinariesPresent, startControlPlane } from '../../scripts/kube-control-plane.mjs';
import { coreMain, spawnServer, type Spawned } from './processes.js';
import { passwordToken } from './core-session.js';

// The kubernetes mode: the same create/get/list through the core (Mortise's authentication,
// RBAC, validation, admission in front of the cluster) and straight to the kube-apiserver behind
// it, same client (undici over TLS), same run; the ratio is what the core costs.

export interface KubeBenchResult {
  /** cpuUs: CPU of this process (the in-process core and the client; the client alone for direct) per request, µs. */
  rows: Array<{ name: string; core: Measure & { cpuUs: number }; direct: Measure & { cpuUs: number } }>;
  /** ms from SIGKILL of the leader to the other replica holding the Lease, one per round. */
  failoverMs: number[];
  leaseSeconds: number;
  /** The 1-minute load average before and after the run (other work on the machine). */
  loadAverage: [number, number];
}


export async function kubeModeBench(seconds: number, concurrency = 16, opts: { failoverRounds?: number; leaseSeconds?: number } = {}): Promise<KubeBenchResult | undefined> {
  if (!kubeBinariesPresent()) return undefined;
  const loadStart = loadavg()[0]!;
  const certs = await generateServingCerts(['127.0.0.1', 'localhost']);
  const cluster = await startControlPlane(certs);
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-kube-'));
  const core = await createCore({
    host: '127.0.0.1', port: 0, dataDir, adminPassword: 'bench-admin-password', logger: createLogger({ level: 'silent' }),
    mode: 'kubernetes', kubeconfig: cluster.kubeconfigPath, namespace: 'mortise-bench',
  });
  try {
    await core.listen();
    const coreToken = await passwordToken(core.url, 'bench-admin-password');
    const coreAgent = new Agent({ connect: { ca: core.certs.caCertPem }, connections: concurrency });
    const targets: Record<'core' | 'direct', ApiTarget> = {
      core: { base: core.httpsUrl, token: coreToken, dispatcher: coreAgent },
      direct: { base: cluster.server, token: cluster.adminToken, dispatcher: cluster.dispatcher },
    };
    const cms = '/api/v1/namespaces/bench/configmaps';
    if (!(await call(targets.core, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench' } }))) throw new Error('could not create the bench namespace');
    const rows: KubeBenchResult['rows'] = [];
    for (const [name, fn] of [
      ['create ConfigMap', (t: ApiTarget) => (i: number) => call(t, 'POST', cms, { metadata: { generateName: `c${i}-` }, data: { k: 'v' } })],
      ['get ConfigMap', (t: ApiTarget) => () => call(t, 'GET', `${cms}/fixed`)],
      ['list ConfigMaps (limit 50)', (t: ApiTarget) => () => call(t, 'GET', `${cms}?limit=50`)],
    ] as const) {
      if (name === 'get ConfigMap') await call(targets.core, 'POST', cms, { metadata: { name: 'fixed' }, data: { k: 'v' } });
      const coreM = await withCpu(() => closedLoop(concurrency, seconds, fn(targets.core)), seconds);
      const direct = await withCpu(() => closedLoop(concurrency, seconds, fn(targets.direct)), seconds);
      rows.push({ name, core: coreM, direct });
    }
    await coreAgent.close();
    await core.close();
    const leaseSeconds = opts.leaseSeconds ?? 4;
    const failoverMs = await failover(cluster, leaseSeconds, opts.failoverRounds ?? 3);
    return { rows, failoverMs, leaseSeconds, loadAverage: [loadStart, loadavg()[0]!] };
  } finally {
    await core.close().catch(() => undefined);
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Two replicas (`node core/dist/main.js`) on the cluster: SIGKILL the Lease holder and time how
 * long until the other holds the Lease (it runs the controllers from then on). The follower stops
 * cleanly after each round, giving the Lease up for the next.
 */
async function failover(cluster: { server: string; adminToken: string; dispatcher: Agent; kubeconfigPath: string }, leaseSeconds: number, rounds: number): Promise<number[]> {
  const namespace = 'mortise-bench-failover';
  const holder = async () => {
    const res = await request(`${cluster.server}/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/mortise-controllers`, {
      dispatcher: cluster.dispatcher, headers: { authorization: `Bearer ${cluster.adminToken}`, accept: 'application/json' },
    });
    const body = (await res.body.json()) as { spec?: { holderIdentity?: string } };
    return res.statusCode === 200 ? body.spec?.holderIdentity : undefined;
  };
  const until = async (name: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while ((await holder()) !== name) {
      if (Date.now() > deadline) throw new Error(`${name} did not take the Lease within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const dirs: string[] = [];
  const replica = (name: string) => {
    const dataDir = mkdtempSync(join(tmpdir(), `mortise-bench-${name}-`));
    dirs.push(dataDir);
    return spawnServer(coreMain, {
      MORTISE_MODE: 'kubernetes', MORTISE_KUBECONFIG: cluster.kubeconfigPath, MORTISE_NAMESPACE: namespace,
      POD_NAME: name, MORTISE_LEASE_DURATION_SECONDS: String(leaseSeconds), MORTISE_DATA_DIR: dataDir,
      MORTISE_ADMIN_PASSWORD: 'bench-admin-password', MORTISE_BUNDLED_REPOSITORY: 'off',
    });
  };
  const times: number[] = [];
  const running: Spawned[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const leader = await replica(`leader-${i}`);
      running.push(leader);
      await until(`leader-${i}`, 60_000);
      const follower = await replica(`follower-${i}`);
      running.push(follower);
      const killed = performance.now();
      leader.child.kill('SIGKILL');
      await until(`follower-${i}`, (leaseSeconds * 3 + 10) * 1000);
      times.push(Math.round(performance.now() - killed));
      await follower.stop();
    }
  } finally {
    for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  return times;
}

/** The figures as Markdown: the table of calls, then the failover line. */
export function kubeBenchMarkdown(kube: KubeBenchResult): string[] {
  const lines = [
    '| call | core req/s | p50 ms | p99 ms | kube-apiserver req/s | p50 ms | p99 ms | core / direct | bench CPU µs/req (core+client / client) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of kube.rows) {
    const errs = r.core.errors + r.direct.errors;
    lines.push(`| ${r.name} | ${r.core.rps} | ${r.core.p50} | ${r.core.p99} | ${r.direct.rps} | ${r.direct.p50} | ${r.direct.p99} | ${((r.core.rps / r.direct.rps) * 100).toFixed(0)}%${errs ? ` (${errs} errors)` : ''} | ${r.core.cpuUs} / ${r.direct.cpuUs} |`);
  }
  lines.push('', `Failover (two replicas, lease ${kube.leaseSeconds} s, leader SIGKILLed → the other holds the Lease): ${kube.failoverMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')}. Load average ${kube.loadAverage[0].toFixed(2)} → ${kube.loadAverage[1].toFixed(2)}.`);
  return lines;
}

/** The measure plus this process's CPU per request (µs), which a shared machine's load disturbs less than rates. */
async function withCpu(run: () => Promise<Measure>, seconds: number): Promise<Measure & { cpuUs: number }> {
  const before = process.cpuUsage();
  const m = await run();
  const used = process.cpuUsage(before);
  return { ...m, cpuUs: Math.round((used.user + used.system) / Math.max(1, m.rps * seconds)) };
}
