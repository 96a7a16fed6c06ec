import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { percentile } from './load.js';
import { coreMain, spawnServer } from './processes.js';
import { passwordToken } from './core-session.js';

// The logging extension's live tail: the logging extension installed from the bundled repository,
// a shipper pushing one line at a time (Loki JSON, a service-account token) through the gateway,
// an admin tailing `{app="tail-bench"}` over a websocket through the gateway; the delay from
// sending the push to the line's frame arriving.

export interface LogTailFigures {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function logTailBench(url: string, token: string, samples = 200): Promise<LogTailFigures> {
  const json = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    if (res.status !== 201 && res.status !== 409) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { status?: { token?: string } };
  };
  await until(async () => (await fetch(`${url}${ext}/extensionversions/logging-0.1.0`, { headers: json })).ok, 60_000, 'the bundled repository');
  await post(`${ext}/installplans`, { metadata: { name: 'logging' }, spec: { extension: { name: 'logging', version: '0.1.0' }, enabled: true } });
  await until(async () => (await fetch(`${url}/proxy/logging/loki/api/v1/status/buildinfo`, { headers: json })).ok, 120_000, 'logging serving');

  await post('/api/v1/namespaces', { metadata: { name: 'tail-bench' } });
  await post(`${iam}/namespaces/tail-bench/serviceaccounts`, { metadata: { name: 'shipper' } });
  await post(`${iam}/namespaces/tail-bench/roles`, { metadata: { name: 'log-pusher' }, rules: [{ apiGroups: ['logging.mortise.io'], resources: ['logs'], verbs: ['create'] }] });
  await post(`${iam}/namespaces/tail-bench/rolebindings`, { metadata: { name: 'shipper-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'system:serviceaccount:tail-bench:shipper' }] });
  const shipper = (await post(`${iam}/namespaces/tail-bench/serviceaccounts/shipper/tokens`, { spec: { description: 'tail bench' } })).status!.token!;

  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/proxy/logging/loki/api/v1/tail?query=${encodeURIComponent('{app="tail-bench"}')}&start=${Date.now() * 1e6}`, { headers: { authorization: `Bearer ${token}` } });
  const arrived = new Map<string, number>();
  let waiting: { id: string; resolve: () => void } | undefined;
  ws.on('message', (data) => {
    const at = performance.now();
    for (const s of (JSON.parse(String(data)) as { streams: Array<{ values: string[][] }> }).streams) {
      for (const [, line] of s.values) {
        arrived.set(line!, at);
        if (waiting && line === waiting.id) waiting.resolve();
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });

  const delays: number[] = [];
  for (let i = -10; i < samples; i++) {
    const id = `tail-bench line ${i} ${'x'.repeat(150)}`;
    const got = new Promise<void>((resolve) => (waiting = { id, resolve }));
    const sent = performance.now();
    const res = await fetch(`${url}/proxy/logging/loki/api/v1/push`, {
      method: 'POST', headers: { authorization: `Bearer ${shipper}`, 'content-type': 'application/json' },
      body: JSON.stringify({ streams: [{ stream: { app: 'tail-bench' }, values: [[String(BigInt(Date.now()) * 1_000_000n), id]] }] }),
    });
    if (res.status !== 204) throw new Error(`push: ${res.status} ${await res.text()}`);
    await Promise.race([got, new Promise((r) => setTimeout(r, 10_000))]);
    const at = arrived.get(id);
    if (at === undefined) throw new Error(`line ${i} never reached the tail`);
    // The first lines warm the connections and the caller's cached scope.
    if (i >= 0) delays.push(at - sent);
  }
  ws.close();
  delays.sort((a, b) => a - b);
  const round = (n: number) => Number(n.toFixed(1));
  return { samples, p50Ms: round(percentile(delays, 50)), p99Ms: round(percentile(delays, 99)), maxMs: round(delays.at(-1)!) };
}

// `node bench/dist/log-tail-bench.js [samples]` runs it alone against a core of its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-tailbench-'));
  const password = 'bench-admin-password';
  const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password });
  try {
    const token = await passwordToken(core.url, password);
    console.log(JSON.stringify(await logTailBench(core.url, token, Number(process.argv[2] ?? 200)), null, 1));
  } finally {
    await core.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
