import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { call, closedLoop, type Measure } from './closed-loop.js';
import { cpuTicks, workerPids } from './cpu.js';
import { load, type LoadResult } from './load.js';
import { coreMain as bundledCoreMain, spawnServer } from './processes.js';
import { passwordToken, platformModulesStaged } from './core-session.js';

// `node bench/dist/read-cost.js [seconds]`: what one read costs the core, in CPU µs per request
// of its process (steady on a shared machine where req/s swing): a GET of one object and a LIST
// of 100 over HTTP at c=64 (autocannon), and a GET over TLS at c=32 (undici, like tls-bench).
// MORTISE_WORKERS passes through (then the workers' CPU counts too). To profile the core:
// READ_COST_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (node's flags for the core);
// READ_COST_CORE_MAIN=<another build's core/dist/bundle/main.js or core/dist/main.js> measures that build (a before/after);
// READ_COST_ONLY=get|list|select|page|tls measures that read alone (a profile of one path).

const coreMain = process.env.READ_COST_CORE_MAIN ?? bundledCoreMain;
const seconds = Number(process.argv[2] ?? 5);
const password = 'bench-admin-password';

const dataDir = mkdtempSync(join(tmpdir(), 'mortise-read-cost-'));
const nodeArgs = (process.env.READ_COST_NODE_ARGS ?? '').split(' ').filter(Boolean);
const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password, MORTISE_BUNDLED_REPOSITORY: 'off' }, '/readyz', [], nodeArgs);
try {
  // A first start stages the platform modules (a copy of the SDK) in the background: not measured.
  await platformModulesStaged(dataDir);
  const token = await passwordToken(core.url, password);
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const post = async (path: string, body: object) => {
    const res = await fetch(`${core.url}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    if (res.status !== 201 && res.status !== 409) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  };
  await post('/apis/extensions.mortise.io/v1alpha1/categories', { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'Category', metadata: { name: 'bench-fixed' }, spec: { displayName: 'a category for the benchmark', description: 'created by read-cost' } });
  await post('/api/v1/namespaces', { metadata: { name: 'bench-small' } });
  for (let i = 0; i < 100; i++) {
    await post('/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles', { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Role', metadata: { name: `r-${i}`, labels: { tier: `t${i % 10}` } }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] });
  }
  const worker = workerPids(core.child.pid!);
  const pids = [core.child.pid!, ...worker];
  const ticks = () => pids.reduce((sum, p) => sum + (cpuTicks(p) ?? 0), 0);
  // What the core spends with no request (timers, controllers), per second: taken off each
  // figure, which on a loaded machine (few requests a second) it would otherwise swell.
  const idleStart = ticks();
  await new Promise((r) => setTimeout(r, 3000));
  const idleTicksPerSecond = (ticks() - idleStart) / 3;
  /** CPU µs per request of `requests` made in `seconds`, from ticks (1/100 s) less the idle rate. */
  const perRequest = async (run: () => Promise<{ requests: number; seconds: number }>) => {
    const before = ticks();
    const t0 = performance.now();
    const r = await run();
    const spent = ticks() - before - (idleTicksPerSecond * (performance.now() - t0)) / 1000;
    return Math.round((Math.max(0, spent) * 10_000) / Math.max(1, r.requests));
  };
  const rows: string[] = [
    `idle: ${(idleTicksPerSecond * 10).toFixed(1)} ms of CPU a second, taken off; ${worker.length ? `${worker.length} workers + primary` : 'one process'}`, '',
    '| read | req/s | p50 ms | p99 ms | core CPU µs/req |', '|---|---|---|---|---|',
  ];
  const only = process.env.READ_COST_ONLY;
  for (const [name, path] of [['GET one Category, HTTP c=64', '/apis/extensions.mortise.io/v1alpha1/categories/bench-fixed'], ['LIST 100 Roles, HTTP c=64', '/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles'],
    // What kubectl and the console send: a label selector (10 of the 100), and kubectl's paging.
    ['SELECT 10 of 100 Roles by label, HTTP c=64', '/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles?labelSelector=tier%3Dt3'],
    ['PAGE of 100 Roles (limit=500), HTTP c=64', '/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles?limit=500']] as const) {
    if (only && !name.toLowerCase().includes(`${only} `)) continue;
    await load({ url: core.url, path, headers: auth, connections: 64, durationSec: 1 });
    let r: LoadResult | undefined;
    const us = await perRequest(async () => {
      r = await load({ url: core.url, path, headers: auth, connections: 64, durationSec: seconds });
      return { requests: r.requests, seconds };
    });
    rows.push(`| ${name} | ${r!.rps} | ${r!.p50} | ${r!.p99} | ${us} |${r!.errors + r!.non2xx ? ` ${r!.errors + r!.non2xx} errors` : ''}`);
  }
  if (!only || only === 'tls') {
    const dispatcher = new Agent({ connect: { ca: readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8') }, connections: 32 });
    const target = { base: core.url.replace('http:', 'https:'), token, dispatcher };
    const get = () => call(target, 'GET', '/apis/extensions.mortise.io/v1alpha1/categories/bench-fixed');
    await closedLoop(32, 1, get);
    let m: Measure | undefined;
    const us = await perRequest(async () => {
      m = await closedLoop(32, seconds, get);
      return { requests: m.rps * seconds, seconds };
    });
    rows.push(`| GET one Category, TLS c=32 | ${m!.rps} | ${m!.p50} | ${m!.p99} | ${us} |${m!.errors ? ` ${m!.errors} errors` : ''}`);
    await dispatcher.close();
  }
  process.stdout.write(`${rows.join('\n')}\n`);
} finally {
  await core.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
