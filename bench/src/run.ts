import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load, percentile, type LoadResult, type LoadSpec } from './load.js';
import { medianRatio, roundRobin, roundsNote, roundTally, type RoundRobinMeasured, type RoundRobinTarget } from './round-robin.js';
import { rssMiB, coreMain, freePort, spawnServer } from './processes.js';
import { edgeNginxPids } from './cpu.js';
import { watchFanout } from './watch-fanout.js';
import { authzDecisions } from './authz-bench.js';
import { backendTable, gatewayBench, socketTable } from './gateway-bench.js';
import { repositoryBench } from './repository-bench.js';
import { logStoreBench } from './log-store-bench.js';
import { meshBench, meshTable } from './mesh-bench.js';
import { logTailBench } from './log-tail-bench.js';
import { launchBrowser } from './console-bench.js';
import { consoleTable, consoleWithExtensions, consoleWithoutExtensions } from './console-figures.js';
import { devopsBench, devopsRows } from './devops-bench.js';
import { kubeBenchMarkdown, kubeModeBench } from './kube-bench.js';
import { tlsTable, tlsVersusKubeApiserver } from './tls-bench.js';
import { passwordToken } from './core-session.js';
import { cpuSnapshot, stealNote, stolenSince } from './steal.js';

// `npm run bench`: figures for the core, each throughput next to a bare koa handler measured in
// the same run on the same machine, so the ratio means something on any machine.

const here = dirname(fileURLToPath(import.meta.url));
const bareKoa = join(here, 'bare-koa-server.js');
const coreWithoutAuthz = join(here, 'core-without-authz.js');
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
/** Rounds of 1 s for each operation over HTTP and its bare koa counterpart. */
const httpRounds = Math.max(6, Math.round(seconds * 2));
const password = 'bench-admin-password';

async function post(url: string, tok: string, path: string, body: object): Promise<void> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201 && res.status !== 409) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

async function waitFor(url: string, tok: string, path: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${tok}` } });
    await res.arrayBuffer();
    if (res.ok) return;
    if (Date.now() > end) throw new Error(`GET ${path}: still ${res.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function parallel(n: number, concurrency: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++);
  }));
}

// Categories: a plain kind no controller reacts to, so the figures are the API's own.
const cat = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'Category', metadata: { name, labels }, spec: { displayName: 'a category for the benchmark', description: 'created by npm run bench' } });
const role = (name: string) => ({ apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Role', metadata: { name }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] });

/** A table row; beside an interleaved baseline, the ratio is the median of the per-round ratios. */
function row(name: string, r: LoadResult | RoundRobinMeasured, base?: LoadResult | RoundRobinMeasured): string {
  const ratio = base ? `${((('rounds' in r && 'rounds' in base ? medianRatio(r, base) : r.rps / base.rps)) * 100).toFixed(0)}%` : '';
  const errs = r.errors + r.non2xx;
  return `| ${name} | ${r.rps} | ${r.p50} | ${r.p90} | ${r.p99} | ${base ? base.rps : ''} | ${ratio} | ${errs ? `${errs} errors` : ''} |`;
}

/** hello-world behind a core started with the native edge, measured as gatewayBench measures, the edge beside. */
async function edgeGatewayBench(seconds: number) {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-bench-edge-'));
  const edgePort = await freePort();
  const edgeCore = await spawnServer(coreMain, { MORTISE_DATA_DIR: dir, MORTISE_ADMIN_PASSWORD: password, MORTISE_EDGE_LISTEN: String(edgePort) });
  try {
    const token = await passwordToken(edgeCore.url, password);
    const corePid = edgeCore.child.pid!;
    return await gatewayBench(edgeCore.url, token, seconds, corePid, 1, { url: `http://127.0.0.1:${edgePort}`, pids: () => [corePid, ...edgeNginxPids(corePid).slice(1)] });
  } finally {
    await edgeCore.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const lines: string[] = [];
  const out = (s = '') => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-'));
  const runCpu = cpuSnapshot();
  out(`# Mortise benchmark — ${new Date().toISOString()} — node ${process.version}, ${seconds}s per measurement`);
  out();

  // Cold start (fresh data dir: keys, certificates, admin hash), then a warm start.
  const startCpu = cpuSnapshot();
  let core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password });
  const coldStartMs = core.startMs;
  await core.stop();
  core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password });
  const warmStartMs = core.startMs;
  const startSteal = stolenSince(startCpu);
  await new Promise((r) => setTimeout(r, 1500));
  const idleRss = rssMiB(core.child.pid!);
  const bare = await spawnServer(bareKoa, {}, '/readyz');

  const tok = await passwordToken(core.url, password);
  const auth = { authorization: `Bearer ${tok}`, 'content-type': 'application/json' };
  await post(core.url, tok, '/apis/extensions.mortise.io/v1alpha1/categories', cat('bench-fixed'));
  
  await post(core.url, tok, '/api/v1/namespaces', { metadata: { name: 'bench-small' } });
  // A tenth of them labelled alike: what a console page's label selector picks.
  for (let i = 0; i < 100; i++) await post(core.url, tok, '/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles', { ...role(`r-${i}`), metadata: { name: `r-${i}`, labels: { tier: `t${i % 10}` } } });

  out('## Throughput and latency over HTTP (core vs. bare koa handler, same run)');
  out();
  out(`Each operation and its bare koa counterpart are measured in turn, ${httpRounds} rounds of 1 s, each round in a carry-over-balanced order with a wait for quiet between runs (round-robin.ts): req/s and latencies are medians over the rounds, "core / bare" the median of the per-round ratios.`);
  out();
  out('| operation | req/s | p50 ms | p90 ms | p99 ms | bare koa req/s | core / bare | |');
  out('|---|---|---|---|---|---|---|---|');
  let run = 0;
  const httpCpu = cpuSnapshot();
  const httpTally = { ...roundTally };
  for (const c of [1, 64]) {
    const r = run++;
    const target = (name: string, spec: Omit<LoadSpec, 'connections' | 'durationSec'>): RoundRobinTarget => ({ name, run: (s) => load({ ...spec, connections: c, durationSec: s }) });
    let round = 0;
    const m = await roundRobin([
      target('bareGet', { url: bare.url, path: '/x' }),
      target('barePost', { url: bare.url, method: 'POST', path: '/x', headers: { 'content-type': 'application/json' }, body: () => '{"metadata":{"name":"x"}}' }),
      target('barePatch', { url: bare.url, method: 'PATCH', path: '/x', headers: { 'content-type': 'application/json' }, body: () => '{"metadata":{"labels":{"a":"b"}}}' }),
      // Each round's creates have names of their own.
      { name: 'create', run: (s) => { const k = round++; return load({ url: core.url, method: 'POST', path: '/apis/extensions.mortise.io/v1alpha1/categories', headers: auth, body: (i) => JSON.stringify(cat(`bench-c${c}-${r}-${k}-${i}`)), connections: c, durationSec: s }); } },
      target('get', { url: core.url, path: '/apis/extensions.mortise.io/v1alpha1/categories/bench-fixed', headers: auth }),
      target('list', { url: core.url, path: '/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles', headers: auth }),
      target('select', { url: core.url, path: '/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles?labelSelector=tier%3Dt3', headers: auth }),
      // kubectl get sends every list with limit=500.
      target('page', { url: core.url, path: '/apis/iam.mortise.io/v1alpha1/namespaces/bench-small/roles?limit=500', headers: auth }),
      target('patch', { url: core.url, method: 'PATCH', path: '/apis/extensions.mortise.io/v1alpha1/categories/bench-fixed', headers: { ...auth, 'content-type': 'application/merge-patch+json' }, body: (i) => JSON.stringify({ metadata: { labels: { n: String(i % 1000) } } }) }),
    ], httpRounds);
    out(row(`create (c=${c})`, m.create!, m.barePost!));
    out(row(`get (c=${c})`, m.get!, m.bareGet!));
    out(row(`list 100 (c=${c})`, m.list!, m.bareGet!));
    out(row(`list 10 of 100 by label (c=${c})`, m.select!, m.bareGet!));
    out(row(`list 100 as kubectl pages it, limit=500 (c=${c})`, m.page!, m.bareGet!));
    out(row(`merge-patch (c=${c})`, m.patch!, m.barePatch!));
  }
  out();
  out(`During these rounds ${stealNote(stolenSince(httpCpu))}; ${roundsNote(httpTally)}.`);
  out();

  // A list of 10,000 objects.
  await post(core.url, tok, '/api/v1/namespaces', { metadata: { name: 'bench-10k' } });
  const fillStart = performance.now();
  await parallel(10_000, 32, (i) => post(core.url, tok, '/apis/iam.mortise.io/v1alpha1/namespaces/bench-10k/roles', role(`r-${i}`)));
  const fillSec = (performance.now() - fillStart) / 1000;
  const listTimes: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const res = await fetch(`${core.url}/apis/iam.mortise.io/v1alpha1/namespaces/bench-10k/roles`, { headers: auth });
    const body = await res.arrayBuffer();
    listTimes.push(performance.now() - t0);
    bytes = body.byteLength;
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { items: unknown[] };
    // The namespace also holds its three built-in Roles.
    if (parsed.items.length < 10_000) throw new Error(`list returned ${parsed.items.length} items`);
  }
  listTimes.sort((a, b) => a - b);
  const pageStart = performance.now();
  let cont = '';
  let pages = 0;
  do {
    const res = await fetch(`${core.url}/apis/iam.mortise.io/v1alpha1/namespaces/bench-10k/roles?limit=500${cont ? `&continue=${cont}` : ''}`, { headers: auth });
    const body = (await res.json()) as { metadata: { continue?: string } };
    cont = body.metadata.continue ?? '';
    pages++;
  } while (cont);
  const pagedMs = performance.now() - pageStart;
  out('## Large list');
  out();
  out('| measurement | value |');
  out('|---|---|');
  out(`| 10,000 creates at concurrency 32 | ${(10_000 / fillSec).toFixed(0)} creates/s |`);
  out(`| list 10,003 objects (${(bytes / 1024 / 1024).toFixed(1)} MiB), p50 / p99 of 10 | ${percentile(listTimes, 50).toFixed(0)} ms / ${percentile(listTimes, 99).toFixed(0)} ms |`);
  out(`| same list in ${pages} pages of 500 (limit/continue) | ${pagedMs.toFixed(0)} ms |`);
  out();

  const watchers = Number(process.env.BENCH_WATCHERS ?? 1000);
  const fan = await watchFanout(core.url, tok, watchers, 30);
  out(`## Watch fan-out (${fan.watchers} watchers, ${fan.writes} writes; the load client shares the machine)`);
  out();
  out('| measurement | p50 ms | p99 ms |');
  out('|---|---|---|');
  out(`| write → last watcher has the event | ${fan.lastDeliveryP50.toFixed(1)} | ${fan.lastDeliveryP99.toFixed(1)} |`);
  out(`| write → a watcher has the event (all deliveries) | ${fan.deliveryP50.toFixed(1)} | ${fan.deliveryP99.toFixed(1)} |`);
  out();

  // Authorization: raw decision rate, then its share of a real GET (RBAC vs. allow-all core).
  const authz = await authzDecisions(1000, 10_000);
  const member = 'bench-member';
  await post(core.url, tok, '/apis/iam.mortise.io/v1alpha1/users', { metadata: { name: member }, spec: { password: `${password}-m` } });
  await post(core.url, tok, '/apis/tenant.mortise.io/v1alpha1/workspaces', { metadata: { name: 'bench-ws' } });
  // The workspace controller makes the workspace's built-in roles a moment after the workspace.
  await waitFor(core.url, tok, '/apis/iam.mortise.io/v1alpha1/workspaceroles/bench-ws-viewer');
  await post(core.url, tok, '/apis/iam.mortise.io/v1alpha1/workspacerolebindings', { metadata: { name: 'bench-member-viewer', labels: { 'tenant.mortise.io/workspace': 'bench-ws' } }, roleRef: { kind: 'WorkspaceRole', name: 'bench-ws-viewer' }, subjects: [{ kind: 'User', name: member }] });
  await post(core.url, tok, '/api/v1/namespaces', { metadata: { name: 'bench-authz', labels: { 'tenant.mortise.io/workspace': 'bench-ws' } } });
  await post(core.url, tok, '/apis/iam.mortise.io/v1alpha1/namespaces/bench-authz/roles', role('r-1'));
  const memberTok = await (async () => {
    for (;;) {
      const res = await fetch(`${core.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: member, password: `${password}-m` }) });
      if (res.ok) return ((await res.json()) as { access_token: string }).access_token;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const rolePath = '/apis/iam.mortise.io/v1alpha1/namespaces/bench-authz/roles/r-1';
  for (;;) {
    if ((await fetch(`${core.url}${rolePath}`, { headers: { authorization: `Bearer ${memberTok}` } })).ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const openDir = mkdtempSync(join(tmpdir(), 'mortise-bench-open-'));
  const open = await spawnServer(coreWithoutAuthz, { MORTISE_DATA_DIR: openDir, MORTISE_ADMIN_PASSWORD: password });
  const openTok = await passwordToken(open.url, password);
  await post(open.url, openTok, '/api/v1/namespaces', { metadata: { name: 'bench-authz' } });
  await post(open.url, openTok, '/apis/iam.mortise.io/v1alpha1/namespaces/bench-authz/roles', role('r-1'));
  out('## Authorization');
  out();
  out('| measurement | value |');
  out('|---|---|');
  out(`| decisions/s, ${authz.roles} roles and ${authz.bindings} bindings, decision cache bypassed | ${authz.uncachedPerSec.toLocaleString('en')} |`);
  out(`| decisions/s, same, decision cache on | ${authz.cachedPerSec.toLocaleString('en')} |`);
  out();
  out('| GET a namespaced object | req/s | p50 ms | p99 ms | allow-all req/s | RBAC / allow-all |');
  out('|---|---|---|---|---|---|');
  for (const c of [1, 64]) {
    const withRbac = await load({ url: core.url, path: rolePath, headers: { authorization: `Bearer ${memberTok}` }, connections: c, durationSec: seconds });
    const without = await load({ url: open.url, path: rolePath, headers: { authorization: `Bearer ${openTok}` }, connections: c, durationSec: seconds });
    out(`| workspace member through RBAC (c=${c}) | ${withRbac.rps} | ${withRbac.p50} | ${withRbac.p99} | ${without.rps} | ${((withRbac.rps / without.rps) * 100).toFixed(0)}% |`);
  }
  out();
  await open.stop();
  rmSync(openDir, { recursive: true, force: true });

  const repo = await repositoryBench(core.url, tok, seconds);
  out(`## Repository sync and marketplace search (${repo.extensions} extensions × ${repo.versions} versions)`);
  out();
  out('| measurement | value |');
  out('|---|---|');
  out(`| first sync (Repository created → ${repo.extensions} Extensions, ${repo.extensions * repo.versions} ExtensionVersions written) | ${repo.firstSyncMs.toFixed(0)} ms |`);
  out(`| re-sync, nothing changed | ${repo.resyncMs.toFixed(0)} ms |`);
  out();
  out('| marketplace search (8 connections) | req/s | p50 ms | p90 ms | p99 ms |');
  out('|---|---|---|---|---|');
  for (const s of repo.search) out(`| \`${s.query}\` | ${s.result.rps} | ${s.result.p50} | ${s.result.p90} | ${s.result.p99} |`);
  out();

  const logs = await logStoreBench(Number(process.env.MORTISE_BENCH_LOG_LINES ?? 1_000_000));
  out(`## Logging extension store (${logs.lines} lines of ~200 bytes, batches of 1,000, in process)`);
  out();
  out('| measurement | value |');
  out('|---|---|');
  out(`| ingest (SqliteLogStore.append: streams, day partition, block summaries with 4-gram filters) | ${logs.ingestLinesPerSec} lines/s, ${logs.ingestMBPerSec} MB/s |`);
  out(`| raw SQLite insert of the same rows (one plain table, same batches and pragmas) | ${logs.rawLinesPerSec} lines/s |`);
  out(`| keyword query \`{namespace="bench"} |= "id=req-N "\` (limit 100), p50 / p99 of 100 | ${logs.keywordP50Ms} ms / ${logs.keywordP99Ms} ms |`);
  out(`| label query \`{app="web"}\` (limit 100), p50 / p99 of 100 | ${logs.labelP50Ms} ms / ${logs.labelP99Ms} ms |`);
  out(`| disk per stored line (database + WAL) | ${logs.bytesPerLine} bytes |`);
  out();

  // The console with no extension yet.
  const browser = await launchBrowser();
  const consoleBare = await consoleWithoutExtensions(browser, core.url, password);

  const gw = await gatewayBench(core.url, tok, seconds, core.child.pid);
  out('## Extensions and the gateway (hello-world from the bundled repository)');
  out();
  out('| measurement | value |');
  out('|---|---|');
  out(`| install → serving (create InstallPlan → first 200 through the gateway) | ${gw.installToServingMs.toFixed(0)} ms |`);
  out(`| disable → 503 | ${gw.disableMs.toFixed(0)} ms |`);
  out(`| enable → serving again (backend restart included) | ${gw.enableMs.toFixed(0)} ms |`);
  out();
  out('GET /healthz of the hello-world backend: direct, behind nginx (1 worker, keep-alive upstream), behind the least Node proxy (node:http in, an undici pool out,');
  out('no rules) and through the gateway (authenticated, authorized, identity forwarded). Load: wrk, one thread, each target warmed up first, then every target in turn for');
  out(`${gw.rows[0]?.rounds ?? '?'} one-second rounds; req/s, p50 and p99 are the medians of a target's rounds, "/ nginx" the median of the per-round ratios. CPU µs/req: what the proxy process spent per request.`);
  out(`Load average ${gw.loadAverage[0].toFixed(2)} → ${gw.loadAverage[1].toFixed(2)}; the idle core spent ${gw.coreIdleCpuMsPerSec ?? '?'} ms of CPU a second before the measurements; ${stealNote(gw.steal)}; ${gw.reruns}.`);
  out();
  out('| c | direct req/s | p50 ms | nginx req/s | p50 ms | p99 ms | CPU µs/req | minimal Node proxy req/s | CPU µs/req | gateway req/s | p50 ms | p99 ms | CPU µs/req | gateway / nginx | added p50 vs direct |');
  out('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of gw.rows) {
    out(`| ${r.connections} | ${r.direct.rps} | ${r.direct.p50} | ${r.nginx.rps} | ${r.nginx.p50} | ${r.nginx.p99} | ${r.nginx.cpuUsPerRequest ?? ''} | ${r.minimal.rps} | ${r.minimal.cpuUsPerRequest ?? ''} | ${r.gateway.rps} | ${r.gateway.p50} | ${r.gateway.p99} | ${r.gateway.cpuUsPerRequest ?? ''} | ${r.ratios.gateway.toFixed(2)}× | ${(r.gateway.p50 - r.direct.p50).toFixed(3)} ms |`);
  }
  out();
  out('| GET /hello (the backend verifies the forwarded identity) | req/s | p50 ms | p99 ms | core CPU µs/req |');
  out('|---|---|---|---|---|');
  for (const r of gw.rows) out(`| c=${r.connections} | ${r.hello.rps} | ${r.hello.p50} | ${r.hello.p99} | ${r.hello.cpuUsPerRequest ?? ''} |`);
  out();

  // The native edge (docs/edge.md): a core of its own (its writes each start a new epoch), hello-world installed there too.
  const edgeFigures = await edgeGatewayBench(seconds);
  out('## The native edge (nginx + Lua in front of the core, MORTISE_EDGE_LISTEN) vs nginx, same run');
  out();
  out('The same GET /healthz of hello-world, on a second core started with the edge: direct, behind plain nginx, through the edge (authenticated,');
  out('authorized and identity forwarded from the core\'s cached decision) and through the core\'s own gateway. CPU µs/req of the edge: its nginx\'s and the core\'s.');
  out('"nginx + fwd": nginx given the same request (its credentials included) that also sends the backend Host and X-Forwarded-For/-Proto/-Host/-Prefix,');
  out('as the edge and the gateway do: the backend parses those headers too, and behind plain nginx it does not.');
  out(`Load average ${edgeFigures.loadAverage[0].toFixed(2)} → ${edgeFigures.loadAverage[1].toFixed(2)}; ${stealNote(edgeFigures.steal)}; ${edgeFigures.reruns}.`);
  out();
  out('| c | direct req/s | p50 ms | nginx req/s | p50 ms | CPU µs/req | nginx + fwd req/s | CPU µs/req | edge req/s | p50 ms | p99 ms | CPU µs/req | gateway req/s | edge / nginx | edge / nginx + fwd | gateway / nginx | edge added p50 vs direct |');
  out('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of edgeFigures.rows) {
    const e = r.edge!;
    out(`| ${r.connections} | ${r.direct.rps} | ${r.direct.p50} | ${r.nginx.rps} | ${r.nginx.p50} | ${r.nginx.cpuUsPerRequest ?? ''} | ${r.nginxFwd.rps} | ${r.nginxFwd.cpuUsPerRequest ?? ''} | ${e.rps} | ${e.p50} | ${e.p99} | ${e.cpuUsPerRequest ?? ''} | ${r.gateway.rps} | ${r.ratios.edge!.toFixed(2)}× | ${r.ratios.fwd.edge!.toFixed(2)}× | ${r.ratios.gateway.toFixed(2)}× | ${(e.p50 - r.direct.p50).toFixed(3)} ms |`);
  }
  out();
  out('What hello-world\'s backend (one Node process) spent per request behind each, and how busy it was (of one core): the identity and');
  out('X-Forwarded-* headers the edge must send cost it ~1 µs each to parse (`node bench/dist/header-cost.js`), and near 100 % it caps every proxy.');
  out();
  for (const line of backendTable(edgeFigures.rows)) out(line);
  out();
  for (const line of socketTable(edgeFigures.rows)) out(line);
  out();

  const meshFigures = await meshBench(seconds);
  out('## Service mesh data plane (the servicemesh extension\'s proxy, a retry policy and a timeout in force, traces and telemetry on)');
  out();
  out('GET of a small JSON answer from a Node upstream: direct, behind nginx (1 worker, keep-alive upstream), behind the least Node proxy');
  out(`(node:http + an undici pool, no rules), and through the mesh data plane (Host: bench.bench) in one process and with ${meshFigures.workers} worker`);
  out('processes. Load: wrk, one thread. In brackets: CPU µs per request of all the proxy\'s processes.');
  out();
  for (const line of meshTable(meshFigures)) out(line);
  out();

  // The console again, hello-world installed (by the gateway benchmark above), then 20 extensions.
  const consoleExt = await consoleWithExtensions(browser, core.url, auth, password);
  await browser.close();
  for (const line of consoleTable(consoleBare, consoleExt)) out(line);
  out();

  const devops = await devopsBench(core.url, tok);
  out(`## DevOps extension (installed from the bundled repository; steps confined in bubblewrap)`);
  out();
  for (const line of devopsRows(devops)) out(line);
  out();

  // The logging extension from the bundled repository: push → live tail, through the gateway.
  const tail = await logTailBench(core.url, tok, 200);
  out('## Logging extension live tail (installed from the bundled repository, through the gateway)');
  out();
  out('| measurement | value |');
  out('|---|---|');
  out(`| push (Loki JSON, one line, service-account token) → the line's websocket tail frame, p50 / p99 / max of ${tail.samples} | ${tail.p50Ms} ms / ${tail.p99Ms} ms / ${tail.maxMs} ms |`);
  out();

  const loadedRss = rssMiB(core.child.pid!);
  out('## Process');
  out();
  out('| measurement | value |');
  out('|---|---|');
  out(`| cold start (fresh data dir → /readyz) | ${coldStartMs.toFixed(0)} ms |`);
  out(`| warm start (existing data dir → /readyz) | ${warmStartMs.toFixed(0)} ms |`);
  out(`| idle RSS after start | ${idleRss} MiB |`);
  out(`| RSS after the runs above | ${loadedRss} MiB |`);
  out(`| bare koa RSS | ${rssMiB(bare.child.pid!)} MiB |`);
  out();
  out(`During the cold and warm start ${stealNote(startSteal)}.`);

  await core.stop();
  await bare.stop();
  rmSync(dataDir, { recursive: true, force: true });

  // Last: control planes of their own, the core above stopped.
  const tlsTally = { ...roundTally };
  const tls = await tlsVersusKubeApiserver(seconds);
  out();
  out('## Over TLS: the embedded core vs a kube-apiserver 1.20 + etcd (same client, same machine)');
  out();
  if (!tls) out('kube-apiserver is not built (`node scripts/kube-apiserver.mjs`): not measured.');
  else {
    for (const line of tlsTable(tls)) out(line);
    out();
    out(`In these rows' rounds: ${roundsNote(tlsTally)}.`);
  }

  const kube = await kubeModeBench(seconds);
  out();
  out('## Kubernetes mode: through the core vs straight to kube-apiserver (same client, TLS, 16 connections)');
  out();
  if (!kube) out('kube-apiserver is not built (`node scripts/kube-apiserver.mjs`): not measured.');
  else for (const line of kubeBenchMarkdown(kube)) out(line);
  out();
  out(`Over the whole run ${stealNote(stolenSince(runCpu))}; of all the interleaved rounds, ${roundsNote({ kept: 0, rerun: 0, overLimit: 0 })}.`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
