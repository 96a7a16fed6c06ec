import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { measure, type Measured } from './cpu.js';
import { coreMain, spawnServer, type Spawned } from './processes.js';
import { wrk } from './wrk.js';
import { passwordToken } from './core-session.js';

// `node bench/dist/gateway-profile.js [other-core-main.js]`: where a one-process core spends its
// CPU proxying hello-world's /healthz under wrk (c=BENCH_CONNECTIONS, default 64): the CPU µs per
// request and a `node --cpu-prof` profile of the core, as the functions with the most self and
// total time. Given another build of the core (e.g. a copy of core/dist from before a change),
// both run side by side, their measured runs interleaved BENCH_ROUNDS times (default 3): on a
// shared machine, only figures taken under the same load compare.

const mains = [coreMain, ...process.argv.slice(2).map((p) => resolve(p))];
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const rounds = Number(process.env.BENCH_ROUNDS ?? (mains.length > 1 ? 3 : 1));
const top = Number(process.env.BENCH_TOP ?? 30);
const password = 'bench-admin-password';
const ext = '/apis/extensions.mortise.io/v1alpha1';

interface Target {
  main: string;
  core: Spawned;
  url: string;
  auth: Record<string, string>;
  profDir: string;
  dataDir: string;
  /** Measured windows, CLOCK_MONOTONIC µs (as the profile's timestamps). */
  windows: Array<[number, number]>;
  runs: Measured[];
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function start(main: string): Promise<Target> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-prof-'));
  const profDir = mkdtempSync(join(tmpdir(), 'mortise-bench-cpuprof-'));
  const core = await spawnServer(main, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password, MORTISE_WORKERS: '1' }, '/readyz', [], ['--cpu-prof', '--cpu-prof-dir', profDir]);
  const auth = { authorization: `Bearer ${await passwordToken(core.url, password)}` };
  await until(async () => (await fetch(`${core.url}${ext}/extensionversions/hello-world-0.1.0`, { headers: auth })).ok, 'bundled repository');
  const created = await fetch(`${core.url}${ext}/installplans`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'hello-world' }, spec: { extension: { name: 'hello-world', version: '0.1.0' }, enabled: true } }) });
  if (created.status !== 201) throw new Error(`install: ${created.status}`);
  const url = `${core.url}/proxy/hello-world/healthz`;
  await until(async () => (await fetch(url, { headers: auth })).ok, 'hello-world serving');
  // Warmed until V8 has optimised the request path.
  await wrk({ url, headers: auth, connections: 8, durationSec: 3 });
  return { main, core, url, auth, profDir, dataDir, windows: [], runs: [] };
}

const targets: Target[] = [];
try {
  for (const main of mains) targets.push(await start(main));
  for (let i = 0; i < rounds; i++) {
    for (const t of targets) {
      const from = Number(process.hrtime.bigint() / 1000n);
      t.runs.push(await measure(t.core.child.pid, () => wrk({ url: t.url, headers: t.auth, connections, durationSec: seconds })));
      t.windows.push([from, Number(process.hrtime.bigint() / 1000n)]);
    }
  }
  for (const t of targets) await t.core.stop();
  for (const t of targets) {
    const cpu = t.runs.map((r) => r.cpuUsPerRequest ?? NaN).sort((a, b) => a - b);
    console.log(`\n${t.main}, c=${connections}: CPU µs/request ${cpu.join(', ')} (median ${cpu[Math.floor(cpu.length / 2)]}); req/s ${t.runs.map((r) => r.rps).join(', ')}; p50 ms ${t.runs.map((r) => r.p50).join(', ')}`);
    const file = readdirSync(t.profDir).find((f) => f.endsWith('.cpuprofile') && f.includes(`.${t.core.child.pid}.`));
    if (!file) throw new Error('no profile written');
    printTop(JSON.parse(readFileSync(join(t.profDir, file), 'utf8')) as Profile, t.windows);
  }
} finally {
  for (const t of targets) {
    await t.core.stop();
    rmSync(t.dataDir, { recursive: true, force: true });
    rmSync(t.profDir, { recursive: true, force: true });
  }
}

interface Profile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  startTime: number;
  timeDeltas: number[];
}

/** Self and total time by function, over the samples taken in the measured windows. */
function printTop(p: Profile, windows: Array<[number, number]>): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nameOf = (id: number) => {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/(core|extension-sdk)\//, '$1/')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (!windows.some(([from, to]) => t >= from && t <= to)) continue;
    total++;
    const key = nameOf(p.samples[i]!);
    self.set(key, (self.get(key) ?? 0) + 1);
    const seen = new Set<string>();
    for (let id: number | undefined = p.samples[i]!; id !== undefined; id = parent.get(id)) {
      const k = nameOf(id);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
    }
  }
  const print = (m: Map<string, number>) => {
    for (const [key, n] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * n) / total).toFixed(1).padStart(5)} %  ${key}`);
  };
  console.log('self time (% of the samples in the measured runs):');
  print(self);
  console.log('total time (the function and what it calls):');
  print(inclusive);
}
