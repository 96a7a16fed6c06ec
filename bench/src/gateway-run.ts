import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gatewayBench, type Measured } from './gateway-bench.js';
import { spawnServer } from './processes.js';

// `node bench/dist/gateway-run.js`: the gateway part of `npm run bench` alone (hello-world
// installed from the bundled repository, then direct vs nginx vs gateway under wrk). Extra
// environment (MORTISE_WORKERS, ...) is passed to the core.

const here = dirname(fileURLToPath(import.meta.url));
const coreMain = join(here, '..', '..', 'core', 'dist', 'main.js');
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const password = 'bench-admin-password';

const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-gw-'));
try {
  const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password }, '/readyz', process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : []);
  const res = await fetch(`${core.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password }) });
  const tok = ((await res.json()) as { access_token: string }).access_token;
  const gw = await gatewayBench(core.url, tok, seconds, core.child.pid);
  const cell = (m: Measured) => `${m.rps} | ${m.p50} | ${m.cpuUsPerRequest ?? ''}`;
  console.log(`load average ${gw.loadAverage[0].toFixed(2)} → ${gw.loadAverage[1].toFixed(2)}; idle core CPU ${gw.coreIdleCpuMsPerSec ?? '?'} ms/s`);
  console.log('| c | direct req/s | p50 ms | nginx req/s | p50 ms | CPU µs/req | gateway req/s | p50 ms | CPU µs/req | /hello req/s | p50 ms | CPU µs/req | gateway / nginx |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of gw.rows) {
    console.log(`| ${r.connections} | ${r.direct.rps} | ${r.direct.p50} | ${cell(r.nginx)} | ${cell(r.gateway)} | ${cell(r.hello)} | ${(r.gateway.rps / r.nginx.rps).toFixed(2)}× |`);
  }
  await core.stop();
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
