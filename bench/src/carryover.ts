import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ticksOf, withChildren } from './cpu.js';
import { startNginx } from './nginx.js';
import { spawnServer } from './processes.js';
import { meshNginxPids, startUpstream } from './mesh-bench.js';
import { wrk } from './wrk.js';

// `node bench/dist/carryover.js`: what each target of the mesh bench leaves behind. After a 1-s
// round of wrk at c=64 on one target, the CPU (ms) every process of the bench spends in the next
// second, when nothing is sent. Work left over from one round is paid by whichever target's round
// comes next: why round-robin.ts orders the rounds so that every target follows every other
// equally often, and waits for the processes to settle between runs.

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

const upstream = await startUpstream();
const nginx = await startNginx(upstream.url, '/up');
const node = await spawnServer(join(here, 'minimal-node-proxy.js'), { UPSTREAM: upstream.url }, '/readyz');
const meshN = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url, MESH_WORKERS: '2' }, '/healthz');
const meshNginx = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream.url, MESH_PLANE: 'nginx' }, '/healthz');
try {
  const processes: Record<string, number[]> = {
    upstream: upstream.pid ? [upstream.pid] : [],
    nginx: [nginx.workerPid()!].filter(Boolean),
    node: [node.child.pid!],
    meshN: withChildren(meshN.child.pid),
    meshNginx: meshNginxPids(meshNginx.child.pid!),
  };
  const mesh = { host: 'bench.bench' };
  const targets: Array<[string, string, Record<string, string>?]> = [
    ['direct', `${upstream.url}/healthz`], ['nginx', `${nginx.url}/up/healthz`], ['node', `${node.url}/healthz`],
    ['meshN', `${meshN.url}/healthz`, mesh], ['meshNginx', `${meshNginx.url}/healthz`, mesh],
  ];
  const ticks = () => Object.fromEntries(Object.entries(processes).map(([name, pids]) => [name, ticksOf(pids) ?? NaN]));
  console.log(`| after a round of | ${Object.keys(processes).map((p) => `${p} ms`).join(' | ')} |`);
  console.log(`|---|${Object.keys(processes).map(() => '---|').join('')}`);
  for (let r = 0; r < rounds; r++) {
    for (const [name, url, headers] of targets) {
      await wrk({ url, headers, connections: 64, durationSec: 1 });
      const before = ticks();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = ticks();
      console.log(`| ${name} | ${Object.keys(processes).map((p) => (after[p]! - before[p]!) * 10).join(' | ')} |`);
    }
  }
} finally {
  for (const s of [meshNginx, meshN, node]) await s.stop();
  await nginx.stop();
  upstream.stop();
}
