import { loadavg } from 'node:os';
import { tlsTable, tlsVersusKubeApiserver } from './tls-bench.js';

// `node bench/dist/tls-run.js`: only the TLS comparison with a kube-apiserver (part of `npm run bench`).

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const before = loadavg()[0]!;
const rows = await tlsVersusKubeApiserver(seconds);
if (!rows) {
  process.stdout.write('kube-apiserver is not built (`node scripts/kube-apiserver.mjs`): not measured.\n');
} else {
  process.stdout.write(`# ${new Date().toISOString()}, ${seconds}s per figure, load average ${before.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n\n`);
  for (const line of tlsTable(rows)) process.stdout.write(`${line}\n`);
}
