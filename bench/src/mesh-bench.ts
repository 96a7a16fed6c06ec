import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { withChildren, type Measured } from './cpu.js';
import { medianAddedP50, medianRatio, roundRobin, roundsNote, roundTally } from './round-robin.js';
import { startNginx } from './nginx.js';
import { killAtExit, spawnServer } from './processes.js';
import { cpuSnapshot, stealNote, stolenSince } from './steal.js';
import { wrk } from './wrk.js';

// The mesh's data plane vs. direct vs. nginx as a plain reverse proxy, same upstream, same run.
// On a shared VM a single wrk run per target swings ±30 %: the targets are measured in many short
// rounds, round-robin (round-robin.ts: every target follows every other equally often), and each is judged by the median over the
// rounds of its req/s divided by nginx's in the same round (±5 % run to run).

const here = dirname(fileURLToPath(import.meta.url));

export type MeshTarget = 'direct' | 'nginx' | 'node' | 'mesh' | 'meshN' | 'meshNginx';

/** A target's medians over the rounds, its CPU per request over all of them, and its ratios. */
export interface MeshMeasured extends Measured {
  /** Median over rounds of req/s ÷ nginx's req/s in the same round. */
  toNginx: number;
  /** Median over rounds of req/s ÷ direct's req/s in the same round. */
  toDirect: number;
  /** Median over rounds of p50 − direct's p50 in the same round (ms). */
  addedP50: number;
}

export interface MeshFigures {
  /** Worker processes of the multi-core data plane (`meshN`). */
  workers: number;
  rounds: number;
  roundSeconds: number;
  /** Load average (1 min) before and after. */
  load: [number, number];
  /** Percentage of the CPU the VM's host took during the rounds (steal.ts). */
  steal: number;
  /** How many rounds were kept and measured again for steal (round-robin.ts's roundsNote). */
  reruns: string;
  /** Session and scheduler autogroup of every measured process (all must be the bench's). */
  sessions: string[];
  rows: Array<{ connections: number } & Partial<Record<MeshTarget, MeshMeasured>>>;
}

/** A small upstream in its own process: 200 with a short JSON body. */
export async function startUpstream(): Promise<{ url: string; pid: number | undefined; stop(): void }> {
  const code = `require('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': 'application/json'}); s.end('{"ok":true}'); }).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  const forget = killAtExit(() => (child.exitCode === null && child.pid ? [child.pid] : []));
  return {
    url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => {
      forget();
      child.kill('SIGTERM');
    },
  };
}

/** "<sid> <autogroup>" of a process (autogroups: /proc/sys/kernel/sched_autogroup_enabled). */
export function sessionOf(pid: number): string {
  try {
    const sid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3];
    let group = '';
    try {
      group = readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim().split(' ')[0]!;
    } catch {
      // a kernel without autogroups
    }
    return `sid ${sid} ${group}`.trim();
  } catch {
    return 'gone';
  }
}

/** The nginx plane's processes: its backend, and nginx's master and worker under it. */
export const meshNginxPids = (backend: number): number[] => [backend, ...withChildren(backend).slice(1).flatMap((master) => withChildren(master))];

const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

export interface Target { name: MeshTarget; url: string; headers?: Record<string, string>; pids: () => number[] }

/**
 * Interleaved rounds over `targets` at `connections` (round-robin.ts): per round each target
 * gets `seconds` of wrk, in round-robin.ts's balanced orders, its CPU read around it.
 */
export async function rounds(targets: Target[], connections: number, count: number, seconds: number, upstreamPid?: number): Promise<Partial<Record<MeshTarget, MeshMeasured>>> {
  const measured = await roundRobin(targets.map((t) => ({
    name: t.name, pids: t.pids, run: (s: number) => wrk({ url: t.url, headers: t.headers, connections, durationSec: s }),
  })), count, seconds, upstreamPid ? [upstreamPid] : undefined);
  const { nginx, direct } = measured;
  const out: Partial<Record<MeshTarget, MeshMeasured>> = {};
  for (const t of targets) {
    const m = measured[t.name]!;
    const { rounds: _rps, roundsP50: _p50, ...figures } = m;
    out[t.name] = {
      ...figures,
      toNginx: nginx ? Math.round(medianRatio(m, nginx) * 1000) / 1000 : NaN,
      toDirect: direct ? Math.round(medianRatio(m, direct) * 1000) / 1000 : NaN,
      addedP50: direct ? medianAddedP50(m, direct) : NaN,
    };
  }
  return out;
}

/**
 * `seconds`: each target's total time per concurrency, in rounds of MESH_ROUND_SECONDS (1 s);
 * `workers`: of the multi-core data plane (default: one per core, as the extension's default);
 * `only`: the targets measured (direct and nginx always are: they are what the others are judged by).
 */
export async function meshBench(seconds: number, workers = Number(process.env.MESH_BENCH_WORKERS ?? availableParallelism()), only?: MeshTarget[]): Promise<MeshFigures> {
  const roundSeconds = Math.max(1, Number(process.env.MESH_ROUND_SECONDS ?? 1));
  const count = Math.max(3, Number(process.env.MESH_ROUNDS ?? Math.round((seconds * 2) / roundSeconds)));
  const want = (t: MeshTarget) => !only || only.includes(t) || t === 'direct' || t === 'nginx';
  const load: [number, number] = [loadAverage(), 0];
  const upstream = await startUpstream();
  const targets: Target[] = [{ name: 'direct', url: `${upstream.url}/healthz`, pids: () => (upstream.pid ? [upstream.pid] : []) }];
  const stops: Array<() => Promise<void> | void> = [() => upstream.stop()];
  try {
    // Proxying the way the plane does (buffered, in memory): nginx's default, and the faster way
    // for an answer that comes whole (one write to the caller; unbuffered, a chunked one takes two).
    const nginx = await startNginx(upstream.url, '/up', { buffered: true });
    stops.unshift(() => nginx.stop());
    targets.push({ name: 'nginx', url: `${nginx.url}/up/healthz`, pids: () => [nginx.workerPid()!].filter(Boolean) });
    if (want('node')) {
      const node = await spawnServer(join(here, 'minimal-node-proxy.js'), { UPSTREAM: upstream.url }, '/readyz');
      stops.unshift(() => node.stop());
      targets.push({ name: 'node', url: `${node.url}/healthz`, pids: () => [node.child.pid!] });
    }
    if (want('mesh')) {
      const mesh = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url }, '/healthz');
      stops.unshift(() => mesh.stop());
      targets.push({ name: 'mesh', url: `${mesh.url}/healthz`, headers: { host: 'bench.bench' }, pids: () => [mesh.child.pid!] });
    }
    if (want('meshN')) {
      const meshN = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url, MESH_WORKERS: String(workers) }, '/healthz');
      stops.unshift(() => meshN.stop());
      // The backend-side process and its workers: their CPU together is what a request costs.
      const pids = withChildren(meshN.child.pid);
      targets.push({ name: 'meshN', url: `${meshN.url}/healthz`, headers: { host: 'bench.bench' }, pids: () => pids });
    }
    if (want('meshNginx')) {
      // The native plane: nginx with its Lua module (1 worker, as the plain nginx) run by the
      // backend's class in its default configuration (new traces sampled up to 100/s); its CPU is
      // the nginx master's and worker's and the backend's (reading nginx's counters every second,
      // turning sampled spans' log lines into spans).
      const meshNginx = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url, MESH_PLANE: 'nginx' }, '/healthz');
      stops.unshift(() => meshNginx.stop());
      const pids = meshNginxPids(meshNginx.child.pid!);
      targets.push({ name: 'meshNginx', url: `${meshNginx.url}/healthz`, headers: { host: 'bench.bench' }, pids: () => pids });
    }
    // Every process measured, and the bench (wrk's parent), in one session: one scheduler autogroup.
    const sessions = [`bench ${sessionOf(process.pid)}`, ...targets.flatMap((t) => t.pids().map((p) => `${t.name} ${p} ${sessionOf(p)}`))];
    const rows: MeshFigures['rows'] = [];
    const cpu = cpuSnapshot();
    const tally = { ...roundTally };
    for (const c of [1, 64]) rows.push({ connections: c, ...(await rounds(targets, c, count, roundSeconds, upstream.pid)) });
    load[1] = loadAverage();
    return { workers, rounds: count, roundSeconds, load, steal: stolenSince(cpu), reruns: roundsNote(tally), sessions, rows };
  } finally {
    for (const stop of stops) await stop();
  }
}

/**
 * The figures as a Markdown table: medians over the rounds; in brackets CPU µs per request of all
 * the proxy's processes, then the upstream's behind it (the headers a proxy adds, traceparent and
 * X-Forwarded-Host for the mesh, cost the upstream too).
 */
export function meshTable(r: MeshFigures): string[] {
  const n = r.workers;
  const names: Array<[MeshTarget, string]> = [['direct', 'direct'], ['nginx', 'nginx, 1 worker'], ['node', 'least Node proxy'], ['mesh', 'mesh, 1 process'], ['meshN', `mesh, ${n} workers`], ['meshNginx', 'mesh on nginx, 1 worker (nginx + backend)']];
  const present = names.filter(([t]) => r.rows.some((w) => w[t]));
  const judged = present.filter(([t]) => t !== 'direct' && t !== 'nginx');
  return [
    `${r.rounds} interleaved rounds of ${r.roundSeconds} s per target and concurrency; load average ${r.load[0]} → ${r.load[1]}; ${stealNote(r.steal)}; ${r.reruns}. Ratios: median of per-round ratios. (CPU µs/req: the proxy's / the upstream's behind it.)`,
    '',
    `| c | ${present.map(([, label]) => `${label} req/s (µs/req)`).join(' | ')} | ${judged.map(([t]) => `${t} / nginx`).join(' | ')} | ${judged.map(([t]) => `${t} added p50 ms`).join(' | ')} | p50 / p99 ms, ${present.map(([t]) => t).join(' / ')} |`,
    `|---|${present.map(() => '---|').join('')}${judged.map(() => '---|').join('')}${judged.map(() => '---|').join('')}---|`,
    ...r.rows.map((w) => `| ${w.connections} | ${present.map(([t]) => `${w[t]!.rps} (${t === 'direct' ? '' : `${w[t]!.cpuUsPerRequest ?? '?'} / `}${w[t]!.backendCpuUsPerRequest ?? '?'})`).join(' | ')} | ${judged.map(([t]) => `${w[t]!.toNginx.toFixed(2)}×`).join(' | ')} | ${judged.map(([t]) => w[t]!.addedP50.toFixed(3)).join(' | ')} | ${present.map(([t]) => `${w[t]!.p50}/${w[t]!.p99}`).join(' · ')} |`),
  ];
}

// `node bench/dist/mesh-bench.js` runs it alone; MESH_BENCH_ONLY=meshNginx,node measures only those (with direct and nginx).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  const only = process.env.MESH_BENCH_ONLY ? (process.env.MESH_BENCH_ONLY.split(',') as MeshTarget[]) : undefined;
  const r = await meshBench(seconds, undefined, only);
  for (const s of r.sessions) console.log(s);
  for (const row of r.rows) console.log(JSON.stringify({ workers: r.workers, ...row }));
  for (const line of meshTable(r)) console.log(line);
}
