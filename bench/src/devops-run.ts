import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devopsBench, devopsRows } from './devops-bench.js';
import { coreMain, spawnServer } from './processes.js';
import { passwordToken } from './core-session.js';

// `node bench/dist/devops-run.js`: the DevOps part of `npm run bench` alone, on a core of its own.

const password = 'bench-admin-password';
const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-devops-'));
const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password });
try {
  const token = await passwordToken(core.url, password);
  const figures = await devopsBench(core.url, token, { triggers: Number(process.env.BENCH_DEVOPS_TRIGGERS ?? 50), runs: Number(process.env.BENCH_DEVOPS_RUNS ?? 100) });
  for (const line of devopsRows(figures)) process.stdout.write(`${line}\n`);
} finally {
  await core.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
