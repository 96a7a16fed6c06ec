#!/usr/bin/env node
// What a Node server costs to start: wall ms and CPU ms (utime + stime of the process, all
// threads, from /proc) from spawn until its ready path answers 200, as the median of several runs,
// and how many modules it has loaded by then (ES modules through a load hook, CommonJS files from
// require's cache; counted in a separate run, since the hook itself costs CPU).
//
//   node scripts/start-cost.mjs [--runs 5] [--path /readyz] [--env K=V ...] [--fresh-data-dir] <script> [args...]
//
// --fresh-data-dir gives every start its own empty MORTISE_DATA_DIR (a cold start of the core);
// without it, pass --env MORTISE_DATA_DIR=<dir> of a data dir that has started once (a warm one).
// The server gets PORT and HOST; docs/benchmarks.md "Start" uses it for the core and a backend.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
let runs = 5;
let readyPath = '/readyz';
const extraEnv = {};
let freshDataDir = false;
while (argv[0]?.startsWith('--')) {
  const flag = argv.shift();
  if (flag === '--fresh-data-dir') {
    freshDataDir = true;
    continue;
  }
  const value = argv.shift();
  if (flag === '--runs') runs = Number(value);
  else if (flag === '--path') readyPath = value;
  else if (flag === '--env') {
    const eq = value.indexOf('=');
    extraEnv[value.slice(0, eq)] = value.slice(eq + 1);
  } else throw new Error(`unknown flag ${flag}`);
}
const [script, ...scriptArgs] = argv;
if (!script) throw new Error('usage: start-cost.mjs [--runs N] [--path P] [--env K=V] <script> [args...]');

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};

const freshDirs = [];
async function startOnce(nodeArgs, env) {
  const port = await freePort();
  if (freshDataDir) {
    freshDirs.push(mkdtempSync(join(tmpdir(), 'start-cost-data-')));
    env = { ...env, MORTISE_DATA_DIR: freshDirs.at(-1) };
  }
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, script, ...scriptArgs], {
    env: { ...process.env, ...extraEnv, ...env, PORT: String(port), HOST: '127.0.0.1', MORTISE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}${readyPath}`)).ok) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  const result = { wallMs: Math.round(performance.now() - started), cpuMs: cpuMs(child.pid), child };
  return result;
}

const stop = (child) => new Promise((resolve) => {
  if (child.exitCode !== null) return resolve();
  child.once('exit', () => resolve());
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const wall = [];
const cpu = [];
for (let i = 0; i < runs; i++) {
  const r = await startOnce([], {});
  wall.push(r.wallMs);
  cpu.push(r.cpuMs);
  await stop(r.child);
}

// The module count: a load hook lists ES modules; SIGUSR2 asks the preload for require's cache.
const dir = mkdtempSync(join(tmpdir(), 'start-cost-'));
const esmFile = join(dir, 'esm.txt');
const cjsFile = join(dir, 'cjs.txt');
const preload = fileURLToPath(new URL('./start-cost-preload.mjs', import.meta.url));
const r = await startOnce(['--import', pathToFileURL(preload).href], { START_COST_ESM: esmFile, START_COST_CJS: cjsFile });
r.child.kill('SIGUSR2');
for (let i = 0; i < 200 && !existsSync(cjsFile); i++) await new Promise((res) => setTimeout(res, 10));
await new Promise((res) => setTimeout(res, 50));
const esm = new Set(readFileSync(esmFile, 'utf8').split('\n').filter(Boolean)).size;
const cjs = Number(readFileSync(cjsFile, 'utf8'));
r.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
await new Promise((res) => setTimeout(res, 100));
for (const d of freshDirs) rmSync(d, { recursive: true, force: true });

console.log(JSON.stringify({
  script, runs, wallMs: wall, cpuMs: cpu, medianWallMs: median(wall), medianCpuMs: median(cpu),
  esModules: esm, commonJsFiles: cjs, loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
}));
