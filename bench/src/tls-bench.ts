import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { call, closedLoop, type ApiTarget, type Measure } from './closed-loop.js';
import { coreMain, spawnServer } from './processes.js';
import { generateServingCerts } from '../../core/dist/http/serving-cert-generation.js';
import { kubeBinariesPresent, startControlPlane } from '../../scripts/kube-control-plane.mjs';
import { crd, password, widget, widgets } from './widget-fixture.js';
import type { LoadResult } from './load.js';
import { medianRatio, roundRobin, type RoundRobinMeasured } from './round-robin.js';
import { cpuSnapshot, stolenSince } from './steal.js';
import { passwordToken, platformModulesStaged } from './core-session.js';

// The embedded core (its own process, SQLite) against a kube-apiserver 1.20 + etcd on the same
// machine, both over HTTPS, same client (undici, one keep-alive TLS pool per target) in this
// process: creates of a CRD object and GETs of one, at c=1 and c=32. Each is warmed up, then
// both servers take turns for 1-s rounds (round-robin.ts): this machine's speed drifts by a
// factor of two within minutes, and one measurement each, one after the other, gave the same
// builds 2.1× and 3.7× an hour apart. req/s and latencies are the medians of the rounds, the
// ratio the median of the rounds' ratios.

export interface TlsRow {
  name: string;
  connections: number;
  core: Measure;
  kube: Measure;
  /** core / kube-apiserver req/s: the median of the rounds' ratios. */
  ratio: number;
  rounds: number;
  /** 1-minute load average before and after this row's rounds. */
  load: [number, number];
  /** Percentage of the CPU the VM's host took during the row's rounds (steal.ts). */
  steal: number;
}

/** A closed loop's figures as a round of round-robin.ts takes them. */
async function round(concurrency: number, seconds: number, one: (i: number) => Promise<boolean>): Promise<LoadResult> {
  const m = await closedLoop(concurrency, seconds, one);
  return { ...m, non2xx: 0, requests: m.rps * seconds };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates the bench namespace, the CRD and a fixed Widget; waits until the kind is served. */
async function prepare(t: ApiTarget, name: string): Promise<void> {
  const created = async (path: string, body: unknown) => {
    if (!(await call(t, 'POST', path, body)) && !(await call(t, 'GET', `${path}/${(body as { metadata: { name: string } }).metadata.name}`))) {
      throw new Error(`${name}: could not create ${path}`);
    }
  };
  await created('/api/v1/namespaces', { metadata: { name: 'bench' } });
  await created('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  await until(`${name} to serve widgets`, () => call(t, 'GET', widgets));
  await until(`${name} to create the fixed widget`, () => call(t, 'POST', widgets, widget('fixed')));
}

export async function tlsVersusKubeApiserver(seconds: number): Promise<TlsRow[] | undefined> {
  if (!kubeBinariesPresent()) return undefined;
  const certs = await generateServingCerts(['127.0.0.1', 'localhost']);
  const cluster = await startControlPlane(certs);
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-tls-'));
  const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password, MORTISE_BUNDLED_REPOSITORY: 'off' });
  const agents: Agent[] = [];
  try {
    const coreToken = await passwordToken(core.url, password);
    const coreCa = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
    const target = (name: 'core' | 'kube', connections: number): ApiTarget => {
      const dispatcher = new Agent({ connect: { ca: name === 'core' ? coreCa : certs.caCertPem }, connections });
      agents.push(dispatcher);
      return name === 'core'
        ? { base: core.url.replace('http:', 'https:'), token: coreToken, dispatcher }
        : { base: cluster.server, token: cluster.adminToken, dispatcher };
    };
    // A first start stages the platform modules (a copy of the SDK) in the background: not measured.
    await platformModulesStaged(dataDir);
    await prepare(target('core', 1), 'the core');
    await prepare(target('kube', 1), 'kube-apiserver');
    const rows: TlsRow[] = [];
    let run = 0;
    for (const connections of [1, 32]) {
      const targets = { core: target('core', connections), kube: target('kube', connections) };
      for (const [name, op] of [
        ['create a Widget', (t: ApiTarget, r: number) => (i: number) => call(t, 'POST', widgets, widget(`w-${r}-${i}`))],
        ['get a Widget', (t: ApiTarget) => () => call(t, 'GET', `${widgets}/fixed`)],
      ] as const) {
        for (const t of [targets.core, targets.kube]) await closedLoop(connections, Math.max(1, seconds / 3), op(t, run++));
        const load = loadavg()[0]!;
        const cpu = cpuSnapshot();
        const rounds = Math.max(4, Math.round(seconds * 2));
        const m = await roundRobin([
          { name: 'core', run: (s) => round(connections, s, op(targets.core, run++)) },
          { name: 'kube', run: (s) => round(connections, s, op(targets.kube, run++)) },
        ], rounds);
        const figures = (r: RoundRobinMeasured): Measure => ({ rps: r.rps, p50: r.p50, p90: r.p90, p99: r.p99, errors: r.errors });
        rows.push({ name, connections, core: figures(m.core!), kube: figures(m.kube!), ratio: medianRatio(m.core!, m.kube!), rounds, load: [load, loadavg()[0]!], steal: stolenSince(cpu) });
      }
    }
    return rows;
  } finally {
    await Promise.all(agents.map((a) => a.close()));
    await core.stop();
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function tlsTable(rows: TlsRow[]): string[] {
  return [
    `Both servers in turn, ${rows[0]?.rounds ?? '?'} one-second rounds each per row: req/s and latencies are the medians of the rounds, the ratio the median of the rounds' ratios.`,
    '',
    "| call | c | core req/s | p50 ms | p99 ms | kube-apiserver req/s | p50 ms | p99 ms | core / kube-apiserver | load avg (before, after) | the host's steal |",
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const errs = r.core.errors + r.kube.errors;
      return `| ${r.name} | ${r.connections} | ${r.core.rps} | ${r.core.p50} | ${r.core.p99} | ${r.kube.rps} | ${r.kube.p50} | ${r.kube.p99} | ${r.ratio.toFixed(2)}×${errs ? ` (${errs} errors)` : ''} | ${r.load[0].toFixed(1)}, ${r.load[1].toFixed(1)} | ${r.steal} % |`;
    }),
  ];
}
