import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { childPids } from '@mortise/extension-sdk/util';
import { cpuTicks, type Measured } from './cpu.js';
export type { Measured } from './cpu.js';
import { startNginx } from './nginx.js';
import { spawnServer } from './processes.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSnapshot, stolenSince } from './steal.js';
import { wrk } from './wrk.js';
import { medianRatio, roundRobin, roundsNote, roundTally } from './round-robin.js';

export interface GatewayFigures {
  installToServingMs: number;
  disableMs: number;
  enableMs: number;
  rows: Array<{
    connections: number; direct: Measured; nginx: Measured; gateway: Measured; hello: Measured; minimal: Measured; edge?: Measured;
    /** nginx that also sends the backend Host and X-Forwarded-For/-Proto/-Host/-Prefix, as the gateway does, given the same request (credentials included). */
    nginxFwd: Measured;
    /** Plain nginx reaching the backend on its Unix socket (MORTISE_SOCKET), as the edge and the gateway do. */
    nginxSocket?: Measured;
    /** req/s as a multiple of nginx's: the median of the per-round ratios (round-robin.ts); `fwd`: of the forwarding nginx's. */
    ratios: { gateway: number; minimal: number; edge?: number; fwd: { gateway: number; edge?: number }; socket?: { gateway: number; edge?: number } };
    /** Rounds of one second each target had. */
    rounds: number;
  }>;
  /** CPU the idle core spent per second just before the measurements (background work), ms. */
  coreIdleCpuMsPerSec?: number;
  /** Load average (1 min) when the measurements started and ended: other work on the machine. */
  loadAverage: [number, number];
  /** Percentage of the CPU the VM's host took from the start of the rounds to their end (steal.ts). */
  steal: number;
  /** How many rounds were kept and measured again for steal (round-robin.ts's roundsNote). */
  reruns: string;
}

/**
 * The backend's side of the edge's rows, a Markdown table: its CPU per request behind plain nginx,
 * nginx + fwd and the edge, and how busy it was (share of one core). A backend near 100 % of its
 * one core caps everything in front of it; what a proxy makes it parse then costs req/s. (Its
 * µs/req also falls as its req/s rises, more requests per wake-up: `header-cost.js` measures the
 * headers alone, straight to the backend at one concurrency.)
 */
export function backendTable(rows: GatewayFigures['rows']): string[] {
  const out = [
    '| c | backend µs/req behind nginx | busy | behind nginx + fwd | busy | behind the edge | busy | edge / nginx |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const busy = (m: Measured) => (m.backendCpuUsPerRequest === undefined ? '' : `${Math.round((m.rps * m.backendCpuUsPerRequest) / 10_000)} %`);
  for (const r of rows) {
    if (!r.edge || r.edge.backendCpuUsPerRequest === undefined) continue;
    out.push(`| ${r.connections} | ${r.nginx.backendCpuUsPerRequest ?? ''} | ${busy(r.nginx)} | ${r.nginxFwd.backendCpuUsPerRequest ?? ''} | ${busy(r.nginxFwd)} | ${r.edge.backendCpuUsPerRequest} | ${busy(r.edge)} | ${r.ratios.edge!.toFixed(2)}× |`);
  }
  return out;
}

const ext = '/apis/extensions.mortise.io/v1alpha1';
/** Length of the warm-up run of each target before it is measured. */
const warmupSeconds = 3;

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** hello-world installed from the bundled repository and enabled: the ms until it serves. */
export async function installHelloWorld(url: string, token: string): Promise<number> {
  const auth = { authorization: `Bearer ${token}` };
  await until(async () => (await fetch(`${url}${ext}/extensionversions/hello-world-0.1.0`, { headers: auth })).ok, 30_000, 'bundled repository');
  const t0 = performance.now();
  const created = await fetch(`${url}${ext}/installplans`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'hello-world' }, spec: { extension: { name: 'hello-world', version: '0.1.0' }, enabled: true } }) });
  if (created.status !== 201) throw new Error(`install: ${created.status}`);
  await until(async () => (await fetch(`${url}/proxy/hello-world/hello`, { headers: auth })).ok, 60_000, 'hello-world serving');
  return performance.now() - t0;
}

/**
 * The process of hello-world's backend, somewhere under the core's (the runtime may start it
 * through a sandbox): the Node process whose command line names hello-world.
 */
export function helloWorldBackendPid(corePid: number): number {
  const queue = [corePid];
  for (let i = 0; i < queue.length; i++) {
    for (const child of childPids(queue[i]!)) {
      const read = (f: string) => { try { return readFileSync(`/proc/${child}/${f}`, 'utf8'); } catch { return ''; } };
      if (read('comm').trim() === 'node' && read('cmdline').includes('hello-world')) return child;
      queue.push(child);
    }
  }
  throw new Error(`hello-world's backend process was not found under the core (pid ${corePid})`);
}

/**
 * Plain nginx on the backend's Unix socket beside the gateway, which reaches the backend there
 * (docs/extensions.md), and the edge, which reaches its port unless MORTISE_EDGE_BACKEND_SOCKETS=on
 * (docs/edge.md): how much of their figures the socket makes.
 */
export function socketTable(rows: GatewayFigures['rows']): string[] {
  if (!rows.some((r) => r.nginxSocket)) return ['(hello-world\'s backend served on no Unix socket: nginx on its socket was not measured)'];
  const out = [
    'The gateway reaches hello-world\'s backend on the Unix socket the runtime gives it (MORTISE_SOCKET); the edge, like plain nginx above, reaches its',
    'port (MORTISE_EDGE_BACKEND_SOCKETS is off), as a proxy in front of an application does. The same plain nginx on that socket:',
    '',
    '| c | nginx on the socket req/s | p50 ms | CPU µs/req | backend µs/req | edge / it | gateway / it |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const n = r.nginxSocket;
    if (!n) continue;
    out.push(`| ${r.connections} | ${n.rps} | ${n.p50} | ${n.cpuUsPerRequest ?? ''} | ${n.backendCpuUsPerRequest ?? ''} | ${r.ratios.socket?.edge?.toFixed(2) ?? ''}× | ${r.ratios.socket!.gateway.toFixed(2)}× |`);
  }
  return out;
}

/** The Unix socket the runtime gave a backend process (its MORTISE_SOCKET), when it serves there. */
export function backendSocketOf(pid: number): string | undefined {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const path = env.find((e) => e.startsWith('MORTISE_SOCKET='))?.slice('MORTISE_SOCKET='.length);
    return path && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** The URL of hello-world's backend (its ReverseProxy's upstream). */
export async function helloWorldBackend(url: string, token: string): Promise<string> {
  const proxies = (await (await fetch(`${url}${ext}/reverseproxies/hello-world`, { headers: { authorization: `Bearer ${token}` } })).json()) as { spec: { upstream: { url: string } } };
  return proxies.spec.upstream.url;
}

/**
 * hello-world from the bundled repository: install-to-serving, toggle, proxied vs. direct.
 * `processes`: how many processes serve (MORTISE_WORKERS): each is warmed up as long as a single one is.
 * `edge`: the core's native edge (MORTISE_EDGE_LISTEN), measured beside the rest; its CPU is its nginx's and the core's.
 */
export async function gatewayBench(url: string, token: string, seconds: number, corePid?: number | number[], processes = 1, edge?: { url: string; pids: () => number[] }): Promise<GatewayFigures> {
  const auth = { authorization: `Bearer ${token}` };
  const installToServingMs = await installHelloWorld(url, token);

  const patch = (enabled: boolean) => fetch(`${url}${ext}/installplans/hello-world`, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { enabled } }) });
  let t = performance.now();
  await patch(false);
  await until(async () => (await fetch(`${url}/proxy/hello-world/hello`, { headers: auth })).status === 503, 30_000, 'disabled');
  const disableMs = performance.now() - t;
  t = performance.now();
  await patch(true);
  await until(async () => (await fetch(`${url}/proxy/hello-world/hello`, { headers: auth })).ok, 60_000, 're-enabled');
  const enableMs = performance.now() - t;

  const backend = await helloWorldBackend(url, token);
  // Its CPU per request behind each target: where the backend is what saturates (c=64 on two
  // cores), what a proxy makes it parse bounds the proxy's req/s, however little the proxy spends.
  const primaryPid = [corePid].flat()[0];
  const backendPid = primaryPid === undefined ? undefined : helloWorldBackendPid(primaryPid);
  // The same backend behind nginx: what a production reverse proxy costs on this machine, this run.
  const nginx = await startNginx(backend, '/proxy/hello-world');
  // And the same with the headers the gateway must send a backend (who asked, how, under what
  // prefix): a backend parses them too, and that is part of what the gateway is seen to cost.
  const nginxFwd = await startNginx(backend, '/proxy/hello-world', { forwarded: true });
  // And plain nginx on the backend's Unix socket, the way the edge and the gateway reach it: what
  // of the proxies' lead over plain nginx (on the port) is the socket's.
  const socket = backendPid === undefined ? undefined : backendSocketOf(backendPid);
  const nginxSocket = socket ? await startNginx(backend, '/proxy/hello-world', { socket }) : undefined;
  // And behind the least a Node proxy does (node:http in, an undici pool out): what Node itself costs.
  const minimal = await spawnServer(join(dirname(fileURLToPath(import.meta.url)), 'minimal-node-proxy.js'), { UPSTREAM: backend }, '/readyz');
  const rows: GatewayFigures['rows'] = [];
  const loadStart = loadavg()[0]!;
  const cpu = cpuSnapshot();
  const tally = { ...roundTally };
  let coreIdleCpuMsPerSec: number | undefined;
  try {
    // Every target is warmed first: a Node process runs its request path interpreted until V8
    // has optimised it (about the first 2,000 requests, ~1 ms of CPU each instead of ~0.3), which
    // would otherwise land in whichever measurement comes first (it did: the gateway at c=1).
    for (const target of [`${backend}/healthz`, `${nginx.url}/proxy/hello-world/healthz`, `${nginxFwd.url}/proxy/hello-world/healthz`, `${minimal.url}/healthz`, ...(nginxSocket ? [`${nginxSocket.url}/proxy/hello-world/healthz`] : [])]) await wrk({ url: target, connections: 8, durationSec: warmupSeconds });
    for (const path of ['healthz', 'hello']) await wrk({ url: `${url}/proxy/hello-world/${path}`, headers: auth, connections: 8, durationSec: warmupSeconds * processes });
    if (edge) await wrk({ url: `${edge.url}/proxy/hello-world/healthz`, headers: auth, connections: 8, durationSec: warmupSeconds });
    // What the core spends with nothing to serve is in every CPU-per-request figure below; shown so it can be judged.
    // (A core with workers: its primary's and its workers' together.)
    const coreTicks = () => [corePid].flat().reduce<number | undefined>((sum, p) => {
      const t = cpuTicks(p);
      return sum === undefined || t === undefined ? undefined : sum + t;
    }, 0);
    // A core started moments ago still packs the bundled repository and stages platform modules:
    // its figures would carry that work. Wait (up to 30 s) for a second in which it spends < 20 ms.
    const quietBy = Date.now() + 30_000;
    do {
      const idleBefore = coreTicks();
      await new Promise((r) => setTimeout(r, 1000));
      const idleAfter = coreTicks();
      if (idleBefore !== undefined && idleAfter !== undefined) coreIdleCpuMsPerSec = (idleAfter - idleBefore) * 10;
    } while (coreIdleCpuMsPerSec !== undefined && coreIdleCpuMsPerSec >= 20 && Date.now() < quietBy);
    // Every target gets 2 × `seconds` one-second rounds (at least 6), the targets taken in turn (round-robin.ts).
    const rounds = Math.max(6, Math.round(seconds * 2));
    const corePids = [corePid].flat().filter((p): p is number => p !== undefined);
    for (const c of [1, 64]) {
      const run = (target: string, headers?: Record<string, string>) => (s: number) => wrk({ url: target, headers, connections: c, durationSec: s });
      const nginxPid = nginx.workerPid();
      const m = await roundRobin([
        { name: 'direct', run: run(`${backend}/healthz`) },
        { name: 'nginx', pids: nginxPid ? [nginxPid] : [], run: run(`${nginx.url}/proxy/hello-world/healthz`) },
        { name: 'nginxFwd', pids: () => [nginxFwd.workerPid()!].filter(Boolean), run: run(`${nginxFwd.url}/proxy/hello-world/healthz`, auth) },
        { name: 'gateway', pids: corePids, run: run(`${url}/proxy/hello-world/healthz`, auth) },
        { name: 'hello', pids: corePids, run: run(`${url}/proxy/hello-world/hello`, auth) },
        { name: 'minimal', pids: minimal.child.pid ? [minimal.child.pid] : [], run: run(`${minimal.url}/healthz`) },
        ...(nginxSocket ? [{ name: 'nginxSocket', pids: () => [nginxSocket.workerPid()!].filter(Boolean), run: run(`${nginxSocket.url}/proxy/hello-world/healthz`) }] : []),
        ...(edge ? [{ name: 'edge', pids: edge.pids, run: run(`${edge.url}/proxy/hello-world/healthz`, auth) }] : []),
      ], rounds, 1, backendPid === undefined ? undefined : [backendPid]);
      rows.push({
        connections: c, direct: m.direct!, nginx: m.nginx!, nginxFwd: m.nginxFwd!, gateway: m.gateway!, hello: m.hello!, minimal: m.minimal!, ...(m.edge ? { edge: m.edge } : {}),
        ...(m.nginxSocket ? { nginxSocket: m.nginxSocket } : {}),
        ratios: {
          gateway: medianRatio(m.gateway!, m.nginx!), minimal: medianRatio(m.minimal!, m.nginx!), ...(m.edge ? { edge: medianRatio(m.edge, m.nginx!) } : {}),
          fwd: { gateway: medianRatio(m.gateway!, m.nginxFwd!), ...(m.edge ? { edge: medianRatio(m.edge, m.nginxFwd!) } : {}) },
          ...(m.nginxSocket ? { socket: { gateway: medianRatio(m.gateway!, m.nginxSocket), ...(m.edge ? { edge: medianRatio(m.edge, m.nginxSocket) } : {}) } } : {}),
        },
        rounds,
      });
    }
  } finally {
    await nginx.stop();
    await nginxFwd.stop();
    await nginxSocket?.stop();
    await minimal.stop();
  }
  return { installToServingMs, disableMs, enableMs, rows, coreIdleCpuMsPerSec, loadAverage: [loadStart, loadavg()[0]!], steal: stolenSince(cpu), reruns: roundsNote(tally) };
}
