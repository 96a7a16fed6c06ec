import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { measure, withChildren, type Measured } from './cpu.js';
import { startNginx } from './nginx.js';
import { spawnServer } from './processes.js';
import { wrk } from './wrk.js';

// The mesh's data plane vs. direct vs. nginx as a plain reverse proxy, same upstream, same run.

const here = dirname(fileURLToPath(import.meta.url));

export interface MeshFigures {
  /** Worker processes of the multi-core data plane (`meshN`). */
  workers: number;
  rows: Array<{ connections: number; direct: Measured; nginx: Measured; node: Measured; mesh: Measured; meshN: Measured; meshNginx: Measured }>;
}

/** A small upstream in its own process: 200 with a short JSON body. */
async function startUpstream(): Promise<{ url: string; pid: number | undefined; stop(): void }> {
  const code = `require('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': 'application/json'}); s.end('{"ok":true}'); }).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  process.on('exit', () => child.kill('SIGKILL'));
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

/** `workers`: of the multi-core data plane (default: one per core, as the extension's default). */
export async function meshBench(seconds: number, workers = Number(process.env.MESH_BENCH_WORKERS ?? availableParallelism())): Promise<MeshFigures> {
  const upstream = await startUpstream();
  const mesh = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url }, '/healthz');
  const meshN = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url, MESH_WORKERS: String(workers) }, '/healthz');
  // The backend-side process and its workers: their CPU together is what a request costs.
  const meshNPids = withChildren(meshN.child.pid);
  // The native plane: nginx with its Lua module (1 worker, as the plain nginx) run by the backend's
  // class in its default configuration (new traces sampled up to 100/s); its CPU is the nginx
  // master's and worker's and the backend's (reading nginx's counters every second, turning sampled
  // spans' log lines into spans).
  const meshNginx = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url, MESH_PLANE: 'nginx' }, '/healthz');
  const meshNginxPids = () => [meshNginx.child.pid!, ...withChildren(meshNginx.child.pid).slice(1).flatMap((master) => withChildren(master))];
  const nginx = await startNginx(upstream.url, '/up');
  const node = await spawnServer(join(here, 'minimal-node-proxy.js'), { UPSTREAM: upstream.url }, '/readyz');
  const rows: MeshFigures['rows'] = [];
  try {
    for (const c of [1, 64]) {
      const run = (target: string, headers?: Record<string, string>) => () => wrk({ url: target, headers, connections: c, durationSec: seconds });
      // CPU µs per request of each proxy process: the figure other load on the machine moves least.
      const direct = await measure(upstream.pid, run(`${upstream.url}/healthz`));
      const viaNginx = await measure(nginx.workerPid(), run(`${nginx.url}/up/healthz`));
      const viaNode = await measure(node.child.pid, run(`${node.url}/healthz`));
      const viaMesh = await measure(mesh.child.pid, run(`${mesh.url}/healthz`, { host: 'bench.bench' }));
      const viaMeshN = await measure(meshNPids, run(`${meshN.url}/healthz`, { host: 'bench.bench' }));
      const viaMeshNginx = await measure(meshNginxPids(), run(`${meshNginx.url}/healthz`, { host: 'bench.bench' }));
      rows.push({ connections: c, direct, nginx: viaNginx, node: viaNode, mesh: viaMesh, meshN: viaMeshN, meshNginx: viaMeshNginx });
    }
  } finally {
    await nginx.stop();
    await node.stop();
    await mesh.stop();
    await meshN.stop();
    await meshNginx.stop();
    upstream.stop();
  }
  return { workers, rows };
}

/** The figures as a Markdown table: req/s (CPU µs per request of all the proxy's processes) and ratios within the run. */
export function meshTable(r: MeshFigures): string[] {
  const n = r.workers;
  const cell = (m: Measured) => `${m.rps} (${m.cpuUsPerRequest ?? '?'})`;
  const x = (a: Measured, b: Measured) => `${(a.rps / b.rps).toFixed(2)}×`;
  return [
    `| c | direct req/s (µs/req of the upstream) | nginx, 1 worker (µs/req) | least Node proxy (µs/req) | mesh, 1 process (µs/req) | mesh, ${n} workers (µs/req) | mesh on nginx, 1 worker (µs/req: nginx + backend) | mesh 1 / nginx | mesh ${n} / nginx | mesh on nginx / nginx | mesh 1 / direct | mesh on nginx / direct | mesh p50 ms, 1 / ${n} / nginx plane | added p50, mesh 1 / nginx plane | p99 ms, nginx / mesh 1 / nginx plane |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.rows.map((w) => `| ${w.connections} | ${cell(w.direct)} | ${cell(w.nginx)} | ${cell(w.node)} | ${cell(w.mesh)} | ${cell(w.meshN)} | ${cell(w.meshNginx)} | ${x(w.mesh, w.nginx)} | ${x(w.meshN, w.nginx)} | ${x(w.meshNginx, w.nginx)} | ${x(w.mesh, w.direct)} | ${x(w.meshNginx, w.direct)} | ${w.mesh.p50} / ${w.meshN.p50} / ${w.meshNginx.p50} | ${(w.mesh.p50 - w.direct.p50).toFixed(3)} / ${(w.meshNginx.p50 - w.direct.p50).toFixed(3)} ms | ${w.nginx.p99} / ${w.mesh.p99} / ${w.meshNginx.p99} |`),
  ];
}

// `node bench/dist/mesh-bench.js` runs it alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  const r = await meshBench(seconds);
  for (const row of r.rows) console.log(JSON.stringify({ workers: r.workers, ...row }));
  for (const line of meshTable(r)) console.log(line);
}
