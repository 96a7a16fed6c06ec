import { kubeBenchMarkdown, kubeModeBench } from './kube-bench.js';

// `node bench/dist/kube-run.js`: the kubernetes-mode part of `npm run bench` alone (create / get
// / list through the core vs straight to kube-apiserver, then the failover time).
// BENCH_SECONDS per measurement (default 10), BENCH_FAILOVER_ROUNDS (default 3).

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const kube = await kubeModeBench(seconds, 16, { failoverRounds: Number(process.env.BENCH_FAILOVER_ROUNDS ?? 3) });
if (!kube) console.log('kube-apiserver is not built (`node scripts/kube-apiserver.mjs`): not measured.');
else console.log([`${seconds} s per measurement, 16 connections`, '', ...kubeBenchMarkdown(kube)].join('\n'));
