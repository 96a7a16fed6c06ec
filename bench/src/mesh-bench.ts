import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, type Measured } from './cpu.js';
import { startNginx } from './nginx.js';
import { spawnServer } from './processes.js';
import { wrk } from './wrk.js';

// The mesh's data plane vs. direct vs. nginx as a plain reverse proxy, same upstream, same run.

const here = dirname(fileURLToPath(import.meta.url));

export interface MeshFigures { rows: Array<{ connections: number; direct: Measured; nginx: Measured; node: Measured; mesh: Measured }> }

/** A small upstream in its own process: 200 with a short JSON body. */
async function startUpstream(): Promise<{ url: string; pid: number | undefined; stop(): void }> {
  const code = `require('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': 'application/json'}); s.end('{"ok":true}'); }).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  process.on('exit', () => child.kill('SIGKILL'));
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

export async function meshBench(seconds: number): Promise<MeshFigures> {
  const upstream = await startUpstream();
  const mesh = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url }, '/healthz');
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
      rows.push({ connections: c, direct, nginx: viaNginx, node: viaNode, mesh: viaMesh });
    }
  } finally {
    await nginx.stop();
    await node.stop();
    await mesh.stop();
    upstream.stop();
  }
  return { rows };
}

// `node bench/dist/mesh-bench.js` runs it alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  const r = await meshBench(seconds);
  for (const row of r.rows) console.log(JSON.stringify(row));
}
