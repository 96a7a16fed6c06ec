import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { edgeNginxPids, measure, workerPids } from './cpu.js';
import { backendTable, gatewayBench, socketTable, type Measured } from './gateway-bench.js';
import { coreMain, freePort, spawnServer } from './processes.js';
import { wrk } from './wrk.js';
import { passwordToken } from './core-session.js';
import { stealNote } from './steal.js';

// `node bench/dist/gateway-run.js`: the gateway part of `npm run bench` alone (hello-world
// installed from the bundled repository, then direct vs nginx vs gateway under wrk), and a GET of
// one object, for a one-process core and for a core with BENCH_WORKERS serving workers
// (MORTISE_WORKERS; default 2), each in the same run. CPU µs/request of a multi-process core is
// its primary's and its workers' together (not the backend's).

// BENCH_CORE_MAIN: another build of the core to measure (e.g. a copy of core/dist from before a change).
const coreBuild = process.env.BENCH_CORE_MAIN ? resolve(process.env.BENCH_CORE_MAIN) : coreMain;
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const password = 'bench-admin-password';
const workerCounts = [1, Number(process.env.BENCH_WORKERS ?? 2)];

const cell = (m: Measured) => `${m.rps} | ${m.p50} | ${m.cpuUsPerRequest ?? ''}`;
const gatewayRows: string[] = [];
const getRows: string[] = [];
const backendRows: string[] = [];
let load = '';

for (const workers of workerCounts) {
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-gw-'));
  try {
    // The one-process core runs the native edge too (docs/edge.md), measured beside its gateway.
    const edgePort = workers === 1 ? await freePort() : undefined;
    const core = await spawnServer(coreBuild, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password, MORTISE_WORKERS: String(workers), ...(edgePort ? { MORTISE_EDGE_LISTEN: String(edgePort) } : {}) }, '/readyz',
      [], process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []);
    const edgePids = edgePort ? edgeNginxPids(core.child.pid!) : [];
    const pids = [core.child.pid!, ...workerPids(core.child.pid!).filter((p) => !edgePids.includes(p))];
    if (pids.length !== (workers > 1 ? workers + 1 : 1)) throw new Error(`expected ${workers} serving processes, found the pids ${pids.join(', ')}`);
    const tok = await passwordToken(core.url, password);
    const auth = { authorization: `Bearer ${tok}` };
    const gw = await gatewayBench(core.url, tok, seconds, pids, workers, edgePort ? { url: `http://127.0.0.1:${edgePort}`, pids: () => [core.child.pid!, ...edgeNginxPids(core.child.pid!).slice(1)] } : undefined);
    load += `${workers} process${workers > 1 ? 'es' : ''}: load average ${gw.loadAverage[0].toFixed(2)} → ${gw.loadAverage[1].toFixed(2)}, idle core CPU ${gw.coreIdleCpuMsPerSec ?? '?'} ms/s, ${stealNote(gw.steal)}; ${gw.reruns}. `;
    if (edgePort) backendRows.push(...backendTable(gw.rows), '', ...socketTable(gw.rows));
    for (const r of gw.rows) {
      gatewayRows.push(`| ${workers} | ${r.connections} | ${r.direct.rps} | ${r.direct.p50} | ${cell(r.nginx)} | ${cell(r.minimal)} | ${cell(r.gateway)} | ${cell(r.hello)} | ${r.ratios.gateway.toFixed(2)}× | ${r.edge ? `${cell(r.edge)} | ${r.ratios.edge!.toFixed(2)}×` : ' | | | '} | ${cell(r.nginxFwd)} | ${r.edge ? `${r.ratios.fwd.edge!.toFixed(2)}×` : ''} |`);
    }
    // GET of one object (a ConfigMap) through the API.
    const object = `${core.url}/api/v1/namespaces/default/configmaps/bench`;
    const made = await fetch(`${core.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'bench' }, data: { a: 'b' } }) });
    if (made.status !== 201) throw new Error(`configmap: ${made.status}`);
    await wrk({ url: object, headers: auth, connections: 8, durationSec: 3 * workers });
    for (const c of [1, 64]) {
      const get = await measure(pids, () => wrk({ url: object, headers: auth, connections: c, durationSec: seconds }));
      getRows.push(`| ${workers} | ${c} | ${cell(get)} | ${get.p99} |`);
    }
    await core.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(load);
console.log('| serving processes | c | direct req/s | p50 ms | nginx req/s | p50 ms | CPU µs/req | minimal Node proxy req/s | p50 ms | CPU µs/req | gateway req/s | p50 ms | CPU µs/req | /hello req/s | p50 ms | CPU µs/req | gateway / nginx | edge req/s | p50 ms | CPU µs/req | edge / nginx | nginx + fwd req/s | p50 ms | CPU µs/req | edge / nginx + fwd |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of gatewayRows) console.log(r);
console.log('');
for (const r of backendRows) console.log(r);
console.log('');
console.log('| serving processes | c | GET one object req/s | p50 ms | CPU µs/req | p99 ms |');
console.log('|---|---|---|---|---|---|');
for (const r of getRows) console.log(r);
