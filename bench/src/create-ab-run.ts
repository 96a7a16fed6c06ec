import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { call, closedLoop, type ApiTarget } from './closed-loop.js';
import { cpuTicks, workerPids } from './cpu.js';
import { coreMain, spawnServer, type Spawned } from './processes.js';
import { crd, password, widget, widgets } from './widget-fixture.js';
import { passwordToken, platformModulesStaged } from './core-session.js';

// `BENCH_CORE_B=<other checkout>/core/dist/bundle/main.js node bench/dist/create-ab-run.js`: two
// builds of the core side by side (or this one twice, B with the environment BENCH_ENV_B, e.g.
// "MORTISE_WORKERS=2"), each its own process on its own data dir, taking turns under the same load — HTTPS creates of a Widget, c=32 (BENCH_C) — for BENCH_ROUNDS rounds of
// BENCH_SECONDS each. On a shared machine whose load swings by a factor of two from one minute to
// the next, only turns this short compare two builds: each round gives both the same machine.
// Prints each build's req/s and core CPU µs per create, summed over its turns, and the median of
// the rounds' ratios.

const mainB = process.env.BENCH_CORE_B ?? coreMain;
const envB = Object.fromEntries((process.env.BENCH_ENV_B ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
if (!process.env.BENCH_CORE_B && !process.env.BENCH_ENV_B) throw new Error('BENCH_CORE_B (the main.js of another build) or BENCH_ENV_B (an environment for B) says what to compare');
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const concurrency = Number(process.env.BENCH_C ?? 32);

interface Side {
  name: string;
  core: Spawned;
  dataDir: string;
  target: ApiTarget;
  requests: number;
  ticks: number;
  rates: number[];
}

async function start(name: string, main: string, env: Record<string, string> = {}): Promise<Side> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-ab-'));
  const core = await spawnServer(main, { MORTISE_WORKERS: '1', ...env, MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password, MORTISE_BUNDLED_REPOSITORY: 'off' });
  const token = await passwordToken(core.url, password);
  const ca = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
  const target = { base: core.url.replace('http:', 'https:'), token, dispatcher: new Agent({ connect: { ca }, connections: concurrency }) };
  await call(target, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench' } });
  await call(target, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  for (const deadline = Date.now() + 60_000; !(await call(target, 'POST', widgets, widget('fixed')).catch(() => false));) {
    if (Date.now() > deadline) throw new Error(`${name}: widgets are not served`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await platformModulesStaged(dataDir);
  return { name, core, dataDir, target, requests: 0, ticks: 0, rates: [] };
}

const sides: Side[] = [];
try {
  sides.push(await start('A (this checkout)', coreMain));
  sides.push(await start(`B (${[process.env.BENCH_CORE_B, process.env.BENCH_ENV_B].filter(Boolean).join(', ')})`, mainB, envB));
  const load = [loadavg()[0]!];
  let run = 0;
  const turn = async (s: Side, measured: boolean) => {
    const r = run++;
    // The core's processes: the primary and its serving workers (MORTISE_WORKERS ≥ 2).
    const pids = [s.core.child.pid!, ...workerPids(s.core.child.pid!)];
    // A process gone meanwhile counts for nothing (its ticks are lost with it).
    const ticks = () => pids.reduce((sum, pid) => sum + (cpuTicks(pid) ?? 0), 0);
    const before = ticks();
    const m = await closedLoop(concurrency, measured ? seconds : 1, (i) => call(s.target, 'POST', widgets, widget(`w-${r}-${i}`)));
    if (!measured) return;
    s.ticks += ticks() - before;
    s.requests += m.rps * seconds;
    s.rates.push(m.rps);
  };
  for (const s of sides) await turn(s, false);
  for (let i = 0; i < rounds; i++) {
    // Which goes first alternates: neither always follows the other's burst of writes.
    for (const s of i % 2 ? [...sides].reverse() : sides) await turn(s, true);
  }
  load.push(loadavg()[0]!);
  const ratios = sides[0]!.rates.map((a, i) => a / sides[1]!.rates[i]!).sort((x, y) => x - y);
  process.stdout.write(`# ${new Date().toISOString()}, HTTPS creates c=${concurrency}, ${rounds} rounds of ${seconds}s each, load average ${load.map((l) => l.toFixed(1)).join(' → ')}\n\n`);
  process.stdout.write('| build | creates/s | core CPU µs/create |\n|---|---|---|\n');
  for (const s of sides) process.stdout.write(`| ${s.name} | ${Math.round(s.requests / (rounds * seconds))} | ${Math.round((s.ticks * 10_000) / s.requests)} |\n`);
  process.stdout.write(`\nA/B req/s per round: median ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)}, range ${ratios[0]!.toFixed(2)}–${ratios[ratios.length - 1]!.toFixed(2)}\n`);
} finally {
  for (const s of sides) {
    await s.target.dispatcher.close();
    await s.core.stop();
    rmSync(s.dataDir, { recursive: true, force: true });
  }
}
