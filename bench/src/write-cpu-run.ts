import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { closedLoop, type Measure } from './closed-loop.js';
import { cpuTicks, workerPids } from './cpu.js';
import { coreMain, spawnServer } from './processes.js';
import { crd, password, widget, widgets } from './widget-fixture.js';
import { passwordToken, platformModulesStaged } from './core-session.js';

// `node bench/dist/write-cpu-run.js`: the write path alone — creates and merge-patches of a CRD
// object over HTTPS and HTTP at c=1 and c=32 — with the CPU the core's process spent per request,
// the figure that stays comparable on a shared machine. BENCH_CPU_PROF=<dir> runs the core under
// `node --cpu-prof` and leaves its profile there (written when the core stops).

const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const profDir = process.env.BENCH_CPU_PROF;
const only = process.env.BENCH_ONLY; // e.g. "https create c=32"
const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-write-'));
const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password, MORTISE_BUNDLED_REPOSITORY: 'off' }, '/readyz', [], profDir ? [`--cpu-prof`, `--cpu-prof-dir=${profDir}`] : []);
const agents: Agent[] = [];
try {
  const token = await passwordToken(core.url, password);
  const ca = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8');
  const send = async (base: string, dispatcher: Agent, method: 'POST' | 'PATCH', path: string, body: unknown, type = 'application/json') => {
    const res = await request(`${base}${path}`, { method, dispatcher, headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': type }, body: JSON.stringify(body) });
    await res.body.text();
    return res.statusCode >= 200 && res.statusCode < 300;
  };
  const setup = new Agent();
  agents.push(setup);
  await send(core.url, setup, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench' } });
  await send(core.url, setup, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  const deadline = Date.now() + 60_000;
  while (!(await send(core.url, setup, 'POST', widgets, widget('fixed')))) {
    if (Date.now() > deadline) throw new Error('widgets are not served');
    await new Promise((r) => setTimeout(r, 200));
  }
  await platformModulesStaged(dataDir);
  process.stdout.write(`# ${new Date().toISOString()}, ${seconds}s per figure, MORTISE_WORKERS=${process.env.MORTISE_WORKERS ?? '(default)'}, load average ${loadavg()[0]!.toFixed(1)}\n\n`);
  process.stdout.write('| protocol | call | c | req/s | p50 ms | p99 ms | core CPU µs/request | errors |\n|---|---|---|---|---|---|---|---|\n');
  let run = 0;
  for (const proto of ['https', 'http'] as const) {
    for (const c of [1, 32]) {
      const dispatcher = new Agent({ connect: { ca }, connections: c });
      agents.push(dispatcher);
      const base = proto === 'https' ? core.url.replace('http:', 'https:') : core.url;
      for (const [name, op] of [
        ['create', (r: number) => (i: number) => send(base, dispatcher, 'POST', widgets, widget(`w-${proto}-${r}-${i}`))],
        ['merge-patch', () => (i: number) => send(base, dispatcher, 'PATCH', `${widgets}/fixed`, { spec: { size: i % 1000 } }, 'application/merge-patch+json')],
      ] as const) {
        if (only && only !== `${proto} ${name} c=${c}`) continue;
        await closedLoop(c, Math.max(1, seconds / 4), op(run++));
        // The primary and its serving workers (MORTISE_WORKERS ≥ 2), not extension backends.
        const pids = [core.child.pid!, ...workerPids(core.child.pid!)];
        // A process gone meanwhile counts for nothing (its ticks are lost with it).
    const ticks = () => pids.reduce((sum, pid) => sum + (cpuTicks(pid) ?? 0), 0);
        const before = ticks();
        const m: Measure = await closedLoop(c, seconds, op(run++));
        const cpu = Math.round(((ticks() - before) * 10_000) / (m.rps * seconds));
        process.stdout.write(`| ${proto.toUpperCase()} | ${name} | ${c} | ${m.rps} | ${m.p50} | ${m.p99} | ${cpu} | ${m.errors} |\n`);
      }
    }
  }
} finally {
  await Promise.all(agents.map((a) => a.close()));
  await core.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
