import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids } from '@mortise/extension-sdk/util';
import { edgeNginxPids, ticksOf } from './cpu.js';
import { helloWorldBackend, helloWorldBackendPid, installHelloWorld } from './gateway-bench.js';
import { callgrindArgs, instructionsPerRequest } from './instructions.js';
import { nginxPrefixOf, startNginx } from './nginx.js';
import { coreMain, freePort, spawnServer } from './processes.js';
import { medianAddedP50, medianRatio, roundRobin, type RoundRobinTarget } from './round-robin.js';
import { passwordToken } from './core-session.js';
import { wrk } from './wrk.js';

// A/B of the native edge (docs/edge.md): plain nginx and one edge nginx per variant, in
// interleaved rounds, all in front of the same hello-world backend and asking the same core for
// their decisions. Each variant is a copy of the core's own edge (its nginx.conf, with its own
// port, control socket and pid file) changed by the files of a directory:
//   mortise_edge.lua      replaces the edge's Lua;
//   conf-replace.json     [[from, to], ...] replaced in its nginx.conf (each must be found;
//                         `$BACKEND` in `to` is hello-world's backend, host:port; a `from`
//                         starting with `re:` is a regular expression, every match replaced).
// `base` is the edge as built. EDGE_AB_INSTRUCTIONS=1: instead of req/s, the instructions each
// nginx runs per request (instructions.ts: callgrind, one process each, c=1), a figure the
// machine's other work does not move. EDGE_AB_PERF=<file>: `perf record` of the first variant's workers
// (and of plain nginx's, in <file>.nginx) under 5 s of load at c=64 first (`perf report -i <file>` reads it). Usage:
//   node bench/dist/edge-ab.js base /tmp/variant-a ...   (EDGE_AB_ROUNDS, default 8; EDGE_AB_WORKERS, default 1;
//   EDGE_AB_HEADERS, default 0: more request headers)

const variants = process.argv.slice(2);
if (variants.length === 0) throw new Error('usage: edge-ab.js base <variant dir>...');
const rounds = Number(process.env.EDGE_AB_ROUNDS ?? 8);
const workers = process.env.EDGE_AB_WORKERS ?? '1';
const password = 'bench-admin-password';
const path = '/proxy/hello-world/healthz';
const callgrind = !!process.env.EDGE_AB_INSTRUCTIONS;

const browserHeaders: Array<[string, string]> = [
  ['sec-ch-ua', '"Chromium";v="120", "Not?A_Brand";v="8"'], ['sec-ch-ua-mobile', '?0'], ['sec-ch-ua-platform', '"Linux"'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'],
  ['sec-fetch-site', 'same-origin'], ['sec-fetch-mode', 'cors'], ['sec-fetch-dest', 'empty'],
  ['referer', 'http://127.0.0.1/console/hello-world'], ['accept-encoding', 'gzip, deflate, br'], ['accept-language', 'en-GB,en;q=0.9'],
  ['x-requested-with', 'XMLHttpRequest'], ['x-request-id', '4bf92f3577b34da6'],
];
const cleanups: Array<() => Promise<void> | void> = [];
const dataDir = mkdtempSync(join(tmpdir(), 'bench-edge-ab-'));
cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));

/** A request over a unix socket: status and body. */
function onSocket(socketPath: string, method: string, urlPath: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: urlPath, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** An edge nginx beside the core's own: the same configuration and core, another port and dir. */
async function startVariant(name: string, baseDir: string, baseConf: string, secret: string, epoch: number, backend: string): Promise<{ url: string; pids: () => number[]; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-edge-variant-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  const port = await freePort();
  let conf = baseConf.split(baseDir).join(dir).split(`unix:${dir}/core.sock`).join(`unix:${baseDir}/core.sock`)
    .replace(/listen 127\.0\.0\.1:\d+;/, `listen 127.0.0.1:${port};`).replace(/worker_processes \w+;/, `worker_processes ${workers};`);
  if (name !== 'base') {
    if (existsSync(join(name, 'mortise_edge.lua'))) {
      copyFileSync(join(name, 'mortise_edge.lua'), join(dir, 'mortise_edge.lua'));
      conf = conf.replace(/lua_package_path "[^;]*\/\?\.lua;/, `lua_package_path "${dir}/?.lua;`);
    }
    if (existsSync(join(name, 'conf-replace.json'))) {
      for (const [from, to] of JSON.parse(readFileSync(join(name, 'conf-replace.json'), 'utf8')) as Array<[string, string]>) {
        const replacement = to.split('$BACKEND').join(new URL(backend).host);
        if (from.startsWith('re:')) {
          const re = new RegExp(from.slice(3), 'g');
          if (!re.test(conf)) throw new Error(`${name}: /${from.slice(3)}/ matches nothing in the edge's nginx.conf; its upstreams:\n${conf.split('\n').filter((l) => l.includes('upstream ')).join('\n')}`);
          conf = conf.replace(re, () => replacement);
          continue;
        }
        if (!conf.includes(from)) throw new Error(`${name}: ${JSON.stringify(from)} is not in the edge's nginx.conf`);
        conf = conf.split(from).join(replacement);
      }
    }
  }
  if (callgrind) {
    // One process, and none of the worker's timers: the one that watches for its master would
    // find none and stop it.
    conf = conf.replace('daemon off;', 'daemon off;\nmaster_process off;').replace('mortise_edge.init_worker()', '');
  }
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];
  const child: ChildProcess = callgrind
    ? spawn('valgrind', [...callgrindArgs(dir), 'nginx', ...args], { stdio: ['ignore', 'ignore', 'ignore'] })
    : spawn('nginx', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  // Stopped before the core (cleanups run in order; the core's stop is first in the list).
  cleanups.unshift(() => {
    const pids = childPids(child.pid!);
    child.kill('SIGKILL');
    for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  });
  for (let i = 0; ; i++) {
    const pushed = await onSocket(join(dir, 'control.sock'), 'POST', '/epoch', { 'x-mortise-edge-secret': secret }, String(epoch)).catch(() => undefined);
    if (pushed?.status === 200) break;
    if (i > (callgrind ? 1200 : 200)) throw new Error(`${name}: nginx did not start (${join(dir, 'error.log')})`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { url: `http://127.0.0.1:${port}`, pids: () => (callgrind ? [child.pid!] : childPids(child.pid!)), dir };
}

try {
  const edgePort = await freePort();
  const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password, MORTISE_WORKERS: '1', MORTISE_EDGE_LISTEN: String(edgePort), MORTISE_EDGE_WORKERS: workers }, '/readyz');
  cleanups.unshift(() => core.stop());
  const token = await passwordToken(core.url, password);
  // EDGE_AB_HEADERS=<n>: the first n (≤ 12) of the headers a browser's fetch sends besides Host,
  // Connection and Accept, for the edge's header scan.
  const auth = { authorization: `Bearer ${token}`, ...Object.fromEntries(browserHeaders.slice(0, Number(process.env.EDGE_AB_HEADERS ?? 0))) };
  await installHelloWorld(core.url, token);
  const backend = await helloWorldBackend(core.url, token);
  const master = edgeNginxPids(core.child.pid!)[0]!;
  const backendPid = helloWorldBackendPid(core.child.pid!);
  const baseDir = nginxPrefixOf(master);
  const baseConf = readFileSync(join(baseDir, 'nginx.conf'), 'utf8');
  const secret = /X-Mortise-Edge-Secret "([^"]+)"/.exec(baseConf)![1]!;
  // The core's epoch, as it writes it in a decision (its first line): the variants are told it.
  const epochNow = async () => {
    const d = await onSocket(join(baseDir, 'core.sock'), 'GET', `/_mortise_edge/decide?m=GET&u=${encodeURIComponent(path)}`, { ...auth, 'x-mortise-edge-secret': secret, 'x-mortise-edge-client': '127.0.0.1', host: `127.0.0.1:${edgePort}` });
    if (d.status !== 200) throw new Error(`decide: ${d.status} ${d.body}`);
    return Number(d.body.split('\n')[0]);
  };
  const epoch = await epochNow();
  const nginx = await startNginx(backend, '/proxy/hello-world', { callgrind });
  cleanups.unshift(() => nginx.stop());
  const fwd = await startNginx(backend, '/proxy/hello-world', { forwarded: true, callgrind });
  cleanups.unshift(() => fwd.stop());
  const targets: RoundRobinTarget[] = [{ name: 'nginx', pids: () => [nginx.workerPid()!].filter(Boolean), run: (s) => wrk({ url: `${nginx.url}${path}`, connections: 64, durationSec: s }) }];
  const urls: Record<string, { url: string; pids: () => number[]; dir: string }> = {};
  for (const v of variants) {
    urls[v] = await startVariant(v, baseDir, baseConf, secret, epoch, backend);
    const res = await fetch(`${urls[v]!.url}${path}`, { headers: auth });
    if (res.status !== 200) throw new Error(`${v}: ${res.status} ${await res.text()}`);
  }
  for (const t of [`${nginx.url}${path}`, ...Object.values(urls).map((u) => `${u.url}${path}`)]) await wrk({ url: t, headers: auth, connections: 8, durationSec: 1 });
  if (callgrind) {
    // The same request to each (plain nginx gets the credentials too, and passes them on); and
    // plain nginx as the throughput rounds load it, without them: nginx reads a request head a
    // byte at a time (ngx_http_parse_header_line), and a bearer token is most of the edge's.
    const counted: Array<[string, number]> = [];
    const plainDir = nginxPrefixOf(nginx.workerPid()!);
    counted.push(['nginx, no credentials', await instructionsPerRequest(nginx.workerPid()!, plainDir, `${nginx.url}${path}`, {}, 3, 'nginx-no-credentials')]);
    for (const [name, pid, dir, url] of [
      ['nginx', nginx.workerPid()!, plainDir, nginx.url], ['nginx+fwd', fwd.workerPid()!, nginxPrefixOf(fwd.workerPid()!), fwd.url],
      ...Object.entries(urls).map(([v, u]) => [v, u.pids()[0]!, u.dir, u.url] as const),
    ] as const) counted.push([name, await instructionsPerRequest(pid, dir, `${url}${path}`, auth, 3, name)]);
    const plain = counted[1]![1];
    for (const [name, n] of counted) console.log(`${name}: ${Math.round(n)} instructions/request (nginx's user space), ${(n / plain).toFixed(3)}× plain nginx's (given the credentials)`);
  } else await measureRounds();

  async function measureRounds(): Promise<void> {
  // A variant whose requests all went to the core would be measuring the core: each must be
  // answered by nginx alone (the core idle while it is loaded).
  for (const [v, u] of Object.entries(urls)) {
    const before = ticksOf([core.child.pid!])!;
    const r = await wrk({ url: `${u.url}${path}`, headers: auth, connections: 8, durationSec: 1 });
    const coreMs = (ticksOf([core.child.pid!])! - before) * 10;
    if (coreMs > 100) throw new Error(`${v}: the core spent ${coreMs} ms of CPU during 1 s of its load (${r.requests} requests): the variant is not answering from decisions`);
  }
  if (process.env.EDGE_AB_PERF) {
    const first = urls[variants[0]!]!;
    for (const [file, pids, url] of [[process.env.EDGE_AB_PERF, first.pids(), first.url], [`${process.env.EDGE_AB_PERF}.nginx`, [nginx.workerPid()!], nginx.url]] as const) {
      const perf = spawn('perf', ['record', '-F', '2000', '--call-graph', process.env.EDGE_AB_CALLGRAPH ?? 'fp', '-o', file, '-p', pids.join(','), '--', 'sleep', '5'], { stdio: 'inherit' });
      await wrk({ url: `${url}${path}`, headers: auth, connections: 64, durationSec: 5 });
      await new Promise((r) => perf.once('exit', r));
    }
  }
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(`load average ${load()}; ${rounds} rounds of 1 s; ${workers} nginx worker(s) per edge; the bearer token is ${token.length} bytes`);
  for (const c of [1, 64]) {
    const ts: RoundRobinTarget[] = [
      { ...targets[0]!, run: (s) => wrk({ url: `${nginx.url}${path}`, connections: c, durationSec: s }) },
      // The same request as the edge gets (with its credentials), which nginx passes on as it is,
      // to an nginx that also sets the X-Forwarded-* headers the edge sets.
      { name: 'nginx+fwd', pids: () => [fwd.workerPid()!].filter(Boolean), run: (s) => wrk({ url: `${fwd.url}${path}`, headers: auth, connections: c, durationSec: s }) },
      ...Object.entries(urls).map(([v, u]) => ({ name: v, pids: u.pids, run: (s: number) => wrk({ url: `${u.url}${path}`, headers: auth, connections: c, durationSec: s }) })),
    ];
    // What the backend spends per request behind each (the headers a proxy adds cost it too).
    const m = await roundRobin(ts, rounds, 1, [backendPid]);
    for (const [k, r] of Object.entries(m)) {
      const vsNginx = k === 'nginx' ? '' : `, ${medianRatio(r, m.nginx!).toFixed(3)}× nginx${k === 'nginx+fwd' ? '' : ` (${medianRatio(r, m['nginx+fwd']!).toFixed(3)}× nginx+fwd)`}, +${medianAddedP50(r, m.nginx!).toFixed(3)} ms p50`;
      console.log(`c=${c} ${k}: ${r.rps} req/s${vsNginx}, ${r.cpuUsPerRequest} µs CPU/req (nginx), ${r.backendCpuUsPerRequest} (backend), ${r.machineUsPerRequest} (the machine), p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors + r.non2xx}`);
    }
  }
  if ((await epochNow()) !== epoch) console.log('warning: the core made a new epoch during the run: the variants stopped using their decisions (figures are not the edge\'s)');
  console.log(`load average ${load()}`);
  }
} finally {
  for (const c of cleanups) await c();
}
