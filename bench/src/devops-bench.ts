import { readdirSync, readFileSync } from 'node:fs';
import { percentile } from './load.js';
import { rssMiB } from './processes.js';

// The DevOps extension, installed from the bundled repository into a running core: how fast a
// trigger reaches a running step, how fast a step's output reaches someone following the log,
// and how many runs a minute it gets through at a concurrency of 10, with the backend's memory.

export interface DevopsFigures {
  confined: boolean;
  triggerToStepP50: number;
  triggerToStepP99: number;
  triggers: number;
  logLineP50: number;
  logLineP99: number;
  logLines: number;
  runs: number;
  concurrency: number;
  runsPerMinute: number;
  failed: number;
  rssIdleMiB: number;
  rssPeakMiB: number;
}

const ext = '/apis/extensions.mortise.io/v1alpha1';
const kapi = '/kapis/devops.mortise.io/v1alpha1/namespaces/bench-ci';
const api = '/apis/devops.mortise.io/v1alpha1/namespaces/bench-ci';

interface LogEvent { id: number; time: string; kind: string; text: string }

/** Follows a run's log (SSE) and hands each event to `on` with the time it arrived; stops when `on` says so or the log ends. */
async function follow(url: string, headers: Record<string, string>, on: (e: LogEvent, at: number) => boolean | void): Promise<void> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  if (!res.ok) throw new Error(`log ${url}: ${res.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const at = Date.now();
      buffer += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (/^event: end$/m.test(block)) return;
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (/^event: log$/m.test(block) && data && on(JSON.parse(data) as LogEvent, at)) {
          ac.abort();
          return;
        }
      }
    }
  } catch (e) {
    if ((e as Error).name !== 'AbortError') throw e;
  }
}

/** The backend's process: the node running the installed package's dist/server.js. */
function backendPid(): number | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (/unpacked\/devops\/[^/]+\/dist\/server\.js/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) return Number(pid);
    } catch {
      // gone
    }
  }
  return undefined;
}

async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function devopsBench(url: string, token: string, opts: { triggers?: number; runs?: number; concurrency?: number } = {}): Promise<DevopsFigures> {
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const call = async (path: string, method = 'GET', body?: unknown) => {
    const res = await fetch(`${url}${path}`, { method, headers: json, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok && res.status !== 409) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  const concurrency = opts.concurrency ?? 10;
  await until(async () => (await fetch(`${url}${ext}/extensionversions/devops-0.1.0`, { headers: auth })).ok, 60_000, 'devops in the bundled repository');
  await call(`${ext}/installplans`, 'POST', { metadata: { name: 'devops' }, spec: { extension: { name: 'devops', version: '0.1.0' }, enabled: true, config: { maxConcurrentRuns: concurrency } } });
  await until(async () => ((await call(`${ext}/installplans/devops`)).status as { state?: string } | undefined)?.state === 'Installed', 90_000, 'devops installed');
  const sandbox = await until(async () => {
    const r = await fetch(`${url}/kapis/devops.mortise.io/v1alpha1/sandbox`, { headers: auth });
    return r.ok ? (await r.json()) as { confined: boolean; reason?: string } : undefined;
  }, 30_000, 'the devops backend');
  if (!sandbox.confined) throw new Error(`the sandbox does not work here (${sandbox.reason}): the DevOps figures would not be those of confined steps`);
  await call('/api/v1/namespaces', 'POST', { metadata: { name: 'bench-ci' } });
  const pipeline = (name: string, stages: unknown[]) => call(`${api}/pipelines`, 'POST', { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name }, spec: { stages } });
  await pipeline('one-step', [{ name: 'only', steps: [{ sh: 'true' }] }]);
  await pipeline('three-stages', ['a', 'b', 'c'].map((name) => ({ name, steps: [{ sh: 'true' }] })));
  // The step prints the wall clock (ns) it printed at; the follower compares with its arrival.
  await pipeline('ticker', [{ name: 'tick', steps: [{ sh: 'for i in $(seq 1 200); do echo "tick $(date +%s%N)"; sleep 0.01; done' }] }]);
  const run = async (pipelineName: string) => ((await call(`${kapi}/pipelines/${pipelineName}/run`, 'POST', { parameters: {} })).metadata as { name: string }).name;
  const rssIdleMiB = rssMiB(backendPid()!);

  // Trigger → the first step started (its marker's time, written by the backend as it spawns the step).
  const triggerMs: number[] = [];
  const triggers = opts.triggers ?? 50;
  for (let i = 0; i < triggers + 3; i++) {
    const t0 = Date.now();
    const name = await run('one-step');
    let started = 0;
    await follow(`${url}${kapi}/pipelineruns/${name}/log`, auth, (e) => {
      if (e.kind === 'marker' && / started$/.test(e.text) && e.text.startsWith('step ')) started = Date.parse(e.time);
      return started > 0;
    });
    if (i >= 3) triggerMs.push(started - t0); // the first runs warm up
  }

  // Step output → the line at a follower.
  const lineMs: number[] = [];
  const ticker = await run('ticker');
  await follow(`${url}${kapi}/pipelineruns/${ticker}/log`, auth, (e, at) => {
    const m = /^tick (\d+)$/.exec(e.text);
    if (m) lineMs.push(at - Number(BigInt(m[1]!) / 1_000_000n));
  });

  // Throughput: `runs` runs of three stages queued at once, `concurrency` at a time.
  const runs = opts.runs ?? 100;
  const pid = backendPid()!;
  let rssPeakMiB = rssMiB(pid);
  const sampler = setInterval(() => (rssPeakMiB = Math.max(rssPeakMiB, rssMiB(pid))), 100);
  const t0 = performance.now();
  const names = new Set(await Promise.all(Array.from({ length: runs }, () => run('three-stages'))));
  const done = await until(async () => {
    const list = (await call(`${api}/pipelineruns`)).items as Array<{ metadata: { name: string }; status?: { phase?: string } }>;
    const mine = list.filter((r) => names.has(r.metadata.name));
    return mine.every((r) => ['Succeeded', 'Failed', 'Aborted'].includes(r.status?.phase ?? '')) ? mine : undefined;
  }, 600_000, `${runs} runs`);
  const elapsed = performance.now() - t0;
  clearInterval(sampler);
  triggerMs.sort((a, b) => a - b);
  lineMs.sort((a, b) => a - b);
  return {
    confined: sandbox.confined,
    triggerToStepP50: percentile(triggerMs, 50), triggerToStepP99: percentile(triggerMs, 99), triggers,
    logLineP50: percentile(lineMs, 50), logLineP99: percentile(lineMs, 99), logLines: lineMs.length,
    runs, concurrency, runsPerMinute: Math.round((runs / elapsed) * 60_000), failed: done.filter((r) => r.status?.phase !== 'Succeeded').length,
    rssIdleMiB, rssPeakMiB,
  };
}

/** The figures as the Markdown table `npm run bench` prints. */
export function devopsRows(f: DevopsFigures): string[] {
  return [
    '| measurement | value | aim |',
    '|---|---|---|',
    `| trigger (POST .../run) → first step started, p50 / p99 of ${f.triggers} | ${f.triggerToStepP50.toFixed(0)} ms / ${f.triggerToStepP99.toFixed(0)} ms | p50 ≤ 100 ms |`,
    `| step prints a line → a log follower (SSE through the gateway) has it, p50 / p99 of ${f.logLines} | ${f.logLineP50.toFixed(0)} ms / ${f.logLineP99.toFixed(0)} ms | p99 ≤ 200 ms |`,
    `| ${f.runs} runs of 3 stages of a trivial step, ${f.concurrency} at a time | ${f.runsPerMinute} runs/min${f.failed ? ` (${f.failed} failed)` : ''} | |`,
    `| backend RSS idle / peak during those runs | ${f.rssIdleMiB} MiB / ${f.rssPeakMiB} MiB | |`,
  ];
}
