import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logs as otelLogs, SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { pino } from 'pino';
import { pinoLoki } from 'pino-loki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../../core/src/ops/logger.js';
import { call, eventually, login, startTestCore, type TestCore } from '../../../core/test/support/test-core.js';
import { PushRequest, snappy } from './loki-push-wire.js';

// The logging extension packed from extensions/logging into a repository and installed in a
// real core like any extension; real shippers push through the gateway with service-account
// tokens; queries are checked against Loki's documented shapes and the tenancy rules.


const extensionsDir = join(import.meta.dirname, '..', '..');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const label = 'tenant.mortise.io/workspace';
const loki = '/proxy/logging/loki/api/v1';

/** Loki reads integer timestamps of more than 10 digits as nanoseconds. */
const nsAt = (ms: number) => String(BigInt(ms) * 1_000_000n);

interface Streams { status: string; data: { resultType: string; result: Array<{ stream: Record<string, string>; values: Array<[string, string]> }> } }
interface Matrix { status: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } }

describe('the logging extension', () => {
  let t: TestCore;
  const work = mkdtempSync(join(tmpdir(), 'mortise-logging-'));
  const tokens: Record<string, string> = {};
  const shipper: Record<string, string> = {};

  const created = async (path: string, body: unknown) => {
    const res = await t.api(path, { method: 'POST', json: body });
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(201);
    return (await res.json()) as { status?: { token?: string } };
  };
  const get = async <T>(token: string, path: string, params: Record<string, string | string[]> = {}) => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) qs.append(k, x);
    const res = await call(t.url, token, `${loki}${path}?${qs}`);
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const lines = async (token: string, query: string, extra: Record<string, string> = {}) => {
    const { status, body } = await get<Streams>(token, '/query_range', { query, start: nsAt(Date.now() - 3_600_000), end: nsAt(Date.now() + 60_000), ...extra });
    expect(status, JSON.stringify(body)).toBe(200);
    return (body as Streams).data.result.flatMap((s) => s.values.map((v) => v[1]));
  };
  const push = (token: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    call(t.url, token, `${loki}/push`, { method: 'POST', headers, body: typeof body === 'string' || body instanceof Uint8Array ? (body as RequestInit['body']) : JSON.stringify(body) });

  beforeAll(async () => {
    t = await startTestCore();
    const repo = await buildBundledRepository([extensionsDir], join(work, 'repo'), createLogger({ level: 'silent' }));
    expect(repo.extensions).toContain('logging');
    await created(`${ext}/repositories`, { metadata: { name: 'local' }, spec: { url: repo.url } });
    await eventually(async () => (await t.api(`${ext}/extensionversions/logging-0.1.0`)).status === 200, 20_000, 'repository synced');
    await created(`${ext}/installplans`, {
      metadata: { name: 'logging' },
      spec: { extension: { name: 'logging', version: '0.1.0' }, enabled: true, config: { audit: { enabled: true, intervalSeconds: 1 }, ingest: { maxBodyBytes: 256 * 1024, bytesPerSecond: 300_000, burstBytes: 600_000 } } },
    });
    await eventually(async () => {
      const p = (await (await t.api(`${ext}/installplans/logging`)).json()) as { status?: { state?: string; message?: string } };
      if (p.status?.state === 'InstallFailed') throw new Error(p.status.message);
      return p.status?.state === 'Installed';
    }, 60_000, 'logging installed').catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(((await (await t.api(`${ext}/installplans/logging`)).json()) as { status?: unknown }).status)}`);
    });
    // Its queries run on worker threads: the administrator sees that it asked for them.
    expect(((await (await t.api(`${ext}/installplans/logging`)).json()) as { status: { workerThreads?: boolean } }).status.workerThreads).toBe(true);

    // Two workspaces, a namespace each, a member each, a shipper service account each.
    for (const u of ['alice', 'bob']) {
      await created(`${iam}/users`, { metadata: { name: u }, spec: { password: `${u}-Password-9x` } });
      tokens[u] = await login(t.url, u, `${u}-Password-9x`);
    }
    for (const [ws, ns, member] of [['wsa', 'shop', 'alice'], ['wsb', 'bank', 'bob']] as const) {
      await created(`${tenant}/workspaces`, { metadata: { name: ws }, spec: { manager: 'admin' } });
      await eventually(async () => (await t.api(`${iam}/workspaceroles/${ws}-viewer`)).status === 200, 5000, 'workspace roles');
      await created(`${iam}/workspacerolebindings`, {
        metadata: { name: `${ws}-${member}`, labels: { [label]: ws } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: `${ws}-viewer` },
        subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: member }],
      });
      await created('/api/v1/namespaces', { metadata: { name: ns, labels: { [label]: ws } } });
      await created(`${iam}/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'shipper' } });
      await created(`${iam}/namespaces/${ns}/roles`, { metadata: { name: 'log-pusher' }, rules: [{ apiGroups: ['logging.mortise.io'], resources: ['logs'], verbs: ['create'] }] });
      await created(`${iam}/namespaces/${ns}/rolebindings`, {
        metadata: { name: 'shipper-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' },
        subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: `system:serviceaccount:${ns}:shipper` }],
      });
      shipper[ns] = (await created(`${iam}/namespaces/${ns}/serviceaccounts/shipper/tokens`, { spec: { description: 'test shipper' } })).status!.token!;
    }
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('pino-loki pushes through the gateway with a service-account token; namespace and workspace come from the token', async () => {
    const logger = pino({ level: 'info' }, pinoLoki({
      host: `${t.url}/proxy/logging/`, headers: { authorization: `Bearer ${shipper.shop}` }, batching: false,
      labels: { app: 'checkout', namespace: 'bank', workspace: 'wsb' },
    }));
    logger.info({ order: 42 }, 'order placed');
    logger.error({ order: 43 }, 'payment failed');
    const got = await eventually(async () => {
      const { body } = await get(tokens.alice!, '/query_range', { query: '{app="checkout"}', start: nsAt(Date.now() - 60_000) });
      const r = (body as Streams).data?.result ?? [];
      return r.flatMap((s) => s.values).length === 2 ? (body as Streams) : undefined;
    }, 15_000, 'pino-loki lines');
    expect(got.status).toBe('success');
    expect(got.data.resultType).toBe('streams');
    for (const s of got.data.result) {
      expect(s.stream).toMatchObject({ app: 'checkout', namespace: 'shop', workspace: 'wsa', level: expect.stringMatching(/^(info|error)$/) });
      for (const [ts, line] of s.values) {
        expect(ts).toMatch(/^\d{19}$/);
        expect(JSON.parse(line)).toHaveProperty('msg');
      }
    }
    expect(await lines(tokens.alice!, '{app="checkout"} | json | order > 42 | line_format "{{.msg}} #{{.order}}"')).toEqual(['payment failed #43']);
  });

  it('takes Loki JSON and protobuf+snappy pushes, and OTLP/HTTP from the OpenTelemetry exporter', async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    expect((await push(shipper.shop!, { streams: [{ stream: { app: 'raw' }, values: [[String(now), 'json push level=info'], [String(now + 1n), 'json push level=warn']] }] })).status).toBe(204);

    const secs = Math.floor(Date.now() / 1000);
    const proto = PushRequest.encode(PushRequest.fromObject({ streams: [{ labels: '{app="raw", namespace="bank"}', entries: [{ timestamp: { seconds: secs, nanos: 5 }, line: 'protobuf push level=error' }] }] })).finish();
    expect((await push(shipper.shop!, snappy.compress(proto), { 'content-type': 'application/x-protobuf' })).status).toBe(204);
    expect((await lines(tokens.alice!, '{app="raw"}')).sort()).toEqual(['json push level=info', 'json push level=warn', 'protobuf push level=error']);
    expect((await lines(tokens.alice!, '{app="raw"} |= "protobuf"'))).toEqual(['protobuf push level=error']);

    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'billing' }),
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${t.url}/proxy/logging/v1/logs`, headers: { authorization: `Bearer ${shipper.bank}` } }) })],
    });
    provider.getLogger('test').emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'invoice overdue', attributes: { invoice: 'INV-9' } });
    await provider.forceFlush();
    await provider.shutdown();
    otelLogs.disable();
    const otel = await eventually(async () => {
      const { body } = await get(tokens.bob!, '/query_range', { query: '{service_name="billing"}' });
      return (body as Streams).data.result.length ? (body as Streams) : undefined;
    }, 10_000, 'otlp lines');
    expect(otel.data.result[0]!.stream).toMatchObject({ service_name: 'billing', level: 'warn', namespace: 'bank', workspace: 'wsb' });
    expect(otel.data.result[0]!.values[0]![1]).toBe('invoice overdue invoice="INV-9"');
    expect(await lines(tokens.bob!, '{service_name="billing"} | logfmt | invoice="INV-9"')).toHaveLength(1);
  });

  it('takes OTLP/HTTP protobuf from the OpenTelemetry proto exporter', async () => {
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'ledger', 'deployment.environment': 'prod' }),
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPProtoLogExporter({ url: `${t.url}/proxy/logging/v1/logs`, headers: { authorization: `Bearer ${shipper.bank}` } }) })],
    });
    const logger = provider.getLogger('proto-test');
    logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: 'ledger out of balance', attributes: { account: 'ACC-7', delta: 12 } });
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: { event: 'reconciled', accounts: 3 } });
    await provider.forceFlush();
    await provider.shutdown();
    const got = await eventually(async () => {
      const { body } = await get(tokens.bob!, '/query_range', { query: '{service_name="ledger"}', direction: 'forward' });
      const r = (body as Streams).data?.result ?? [];
      return r.flatMap((s) => s.values).length === 2 ? (body as Streams) : undefined;
    }, 10_000, 'otlp protobuf lines');
    const byLevel = Object.fromEntries(got.data.result.map((s) => [s.stream.level, s]));
    expect(byLevel.error!.stream).toMatchObject({ service_name: 'ledger', deployment_environment: 'prod', namespace: 'bank', workspace: 'wsb' });
    expect(byLevel.error!.values[0]![1]).toBe('ledger out of balance account="ACC-7" delta=12');
    expect(JSON.parse(byLevel.info!.values[0]![1])).toEqual({ event: 'reconciled', accounts: 3 });
    expect(await lines(tokens.bob!, '{service_name="ledger"} | logfmt | delta > 10')).toEqual(['ledger out of balance account="ACC-7" delta=12']);
    // Alice (another workspace) sees none of it.
    expect(await lines(tokens.alice!, '{service_name="ledger"}')).toEqual([]);
  });

  it('answers metric queries and the label endpoints in Loki\'s shapes, and 400 with the position of a bad query', async () => {
    const start = String(Math.floor(Date.now() / 1000) - 600);
    const end = String(Math.floor(Date.now() / 1000) + 60);
    const m = await get(tokens.alice!, '/query_range', { query: 'sum by (app) (count_over_time({namespace="shop"}[10m]))', start, end, step: '60' });
    expect(m.status).toBe(200);
    const matrix = m.body as Matrix;
    expect(matrix.data.resultType).toBe('matrix');
    const byApp = Object.fromEntries(matrix.data.result.map((s) => [s.metric.app, s.values]));
    expect(Object.keys(byApp).sort(), JSON.stringify(matrix)).toEqual(['checkout', 'raw']);
    const lastRaw = byApp.raw!.at(-1)!;
    expect(typeof lastRaw[0]).toBe('number');
    expect(lastRaw[1]).toBe('3');
    const v = await get(tokens.alice!, '/query', { query: 'sum(rate({app="raw"} |= "push" [10m]))' });
    expect(v.body).toMatchObject({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [expect.any(Number), String(3 / 600)] }] } });
    const b = await get(tokens.alice!, '/query', { query: 'bytes_over_time({app="raw"} |= "json" [10m])' });
    expect((b.body as { data: { result: Array<{ value: [number, string] }> } }).data.result[0]!.value[1]).toBe(String(Buffer.byteLength('json push level=info') * 2));

    expect(await get(tokens.alice!, '/labels'), 'labels').toEqual({ status: 200, body: { status: 'success', data: ['app', 'hostname', 'level', 'namespace', 'workspace'] } });
    expect(await get(tokens.alice!, '/label/app/values')).toEqual({ status: 200, body: { status: 'success', data: ['checkout', 'raw'] } });
    const series = await get(tokens.alice!, '/series', { 'match[]': '{app="raw"}' });
    expect(series).toEqual({ status: 200, body: { status: 'success', data: [{ app: 'raw', namespace: 'shop', workspace: 'wsa' }] } });

    const bad = await get(tokens.alice!, '/query_range', { query: '{app="raw" |= "x"' });
    expect(bad.status).toBe(400);
    expect((bad.body as { message: string }).message).toMatch(/parse error at line 1, col 12/);
    expect((await get(tokens.alice!, '/query_range', { query: '{app="raw"}', start: 'yesterday' })).status).toBe(400);
  });

  it('shows each user only the namespaces where they may read logs, whatever the matcher or endpoint', async () => {
    // bob (wsb) sees bank's lines only; alice (wsa) shop's only.
    for (const q of ['{namespace="shop"}', '{workspace="wsa"}', '{app=~".+", namespace!="bank"}', '{namespace=~"shop|bank", app="checkout"}', '{source="audit"}']) {
      expect(await lines(tokens.bob!, q), q).toEqual([]);
    }
    for (const q of ['{namespace="bank"}', '{workspace="wsb"}', '{service_name=~".+"}']) expect(await lines(tokens.alice!, q), q).toEqual([]);
    expect((await lines(tokens.bob!, '{namespace=~".+"}')).sort()).toEqual(['invoice overdue invoice="INV-9"', 'ledger out of balance account="ACC-7" delta=12', '{"event":"reconciled","accounts":3}']);
    expect((await get(tokens.bob!, '/label/app/values')).body).toEqual({ status: 'success', data: [] });
    expect((await get(tokens.bob!, '/label/namespace/values')).body).toEqual({ status: 'success', data: ['bank'] });
    expect((await get(tokens.bob!, '/series', { 'match[]': '{namespace="shop"}' })).body).toEqual({ status: 'success', data: [] });
    expect((await get(tokens.bob!, '/query', { query: 'sum(count_over_time({namespace="shop"}[1h]))' })).body).toMatchObject({ data: { result: [] } });
    // The admin reads everything, the platform's audit stream included; members do not.
    const audit = await eventually(async () => {
      const l = await lines(t.token, '{source="audit"} |= "installplans"');
      return l.length ? l : undefined;
    }, 15_000, 'audit events');
    expect(JSON.parse(audit[0]!)).toHaveProperty('auditID');
    expect(await lines(tokens.alice!, '{source="audit"}')).toEqual([]);
    expect((await get(tokens.alice!, '/labels')).body).toEqual({ status: 'success', data: ['app', 'hostname', 'level', 'namespace', 'workspace'] });
  });

  it('keeps the core\'s log and each extension backend\'s as platform streams, only for platform admins, resumed after a restart without duplicates', async () => {
    const stored = async (query: string) => {
      const { body } = await get(t.token, '/query_range', { query, start: nsAt(Date.now() - 3_600_000), end: nsAt(Date.now() + 60_000), limit: '5000', direction: 'forward' });
      return (body as Streams).data.result.flatMap((s) => s.values.map(([ts, line]) => ({ ts, line }))).sort((a, b) => (BigInt(a.ts) < BigInt(b.ts) ? -1 : BigInt(a.ts) > BigInt(b.ts) ? 1 : 0));
    };
    // What the core holds, as `<time> <line>`: the store must have each line exactly once, at its time.
    const held = async (path: string) => (await (await t.api(`${path}?tailLines=100000&timestamps=true`)).text()).trimEnd().split('\n').filter(Boolean)
      .map((l) => ({ ts: String(BigInt(Date.parse(l.slice(0, l.indexOf(' ')))) * 1_000_000n), line: l.slice(l.indexOf(' ') + 1) }));
    const same = async (query: string, path: string) => eventually(async () => {
      const [a, b] = [await stored(query), await held(path)];
      return a.length > 0 && JSON.stringify(a.map((x) => x.line).sort()) === JSON.stringify(b.map((x) => x.line).sort()) && JSON.stringify(a.map((x) => x.ts).sort()) === JSON.stringify(b.map((x) => x.ts).sort()) ? a : undefined;
    }, 20_000, `${query} equal to ${path}`);
    const extLog = '/kapis/extensions.mortise.io/v1alpha1/extensions/logging/logs';
    const coreLog = '/kapis/ops.mortise.io/v1alpha1/logs';
    await same('{source="extension", extension="logging"}', extLog);
    const core = await stored('{source="core"}');
    expect(core.length).toBeGreaterThan(0);
    expect(JSON.parse(core[0]!.line)).toHaveProperty('level');
    expect((await get(t.token, '/series', { 'match[]': '{source="extension"}' })).body).toMatchObject({ data: expect.arrayContaining([{ source: 'extension', extension: 'logging', job: 'mortise/extension/logging' }]) });
    // Members see none of it, whatever they ask.
    for (const q of ['{source="core"}', '{source=~"core|extension"}', '{job=~"mortise/.+"}', '{extension="logging"}']) expect(await lines(tokens.alice!, q), q).toEqual([]);

    // Restart the backend (a configuration change): the core replays the lines it still holds, the store keeps each once.
    t.core.logger.info({ event: 'test.before-restart' }, 'a core line before the logging backend restarts');
    const plan = '/apis/extensions.mortise.io/v1alpha1/installplans/logging';
    const restarts = async () => ((await (await t.api(plan)).json()) as { status?: { state?: string; observedGeneration?: number } }).status;
    expect((await t.api(plan, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { config: { platformLogs: { intervalSeconds: 1 } } } } })).status).toBe(200);
    await eventually(async () => (await restarts())?.state === 'Installed' && (await call(t.url, t.token, `${loki}/status/buildinfo`)).status === 200, 60_000, 'logging back after its restart');
    t.core.logger.info({ event: 'test.after-restart' }, 'a core line after the logging backend restarted');
    await same('{source="extension", extension="logging"}', extLog);
    const coreAfter = await eventually(async () => {
      const l = await stored('{source="core"}');
      return l.some((x) => x.line.includes('test.after-restart')) ? l : undefined;
    }, 20_000, 'the core line after the restart');
    const keys = coreAfter.map((x) => `${x.ts} ${x.line}`);
    expect(new Set(keys).size, 'no core line stored twice').toBe(keys.length);
    expect(coreAfter.filter((x) => x.line.includes('test.before-restart'))).toHaveLength(1);
    // Every line the core still holds is stored.
    const storedKeys = new Set(keys);
    for (const h of await held(coreLog)) if (BigInt(h.ts) <= BigInt(coreAfter.at(-1)!.ts)) expect(storedKeys.has(`${h.ts} ${h.line}`), h.line).toBe(true);
  });

  it('brings RoleTemplates: a global role built from "View platform logs" reads the platform streams', async () => {
    const templates = (await (await t.api(`${iam}/roletemplates?labelSelector=${encodeURIComponent('extensions.mortise.io/extension=logging')}`)).json()) as { items: Array<{ metadata: { name: string; labels: Record<string, string> } }> };
    // Those of its manifest (beside the installer's own template for its proxy paths).
    expect(templates.items.filter((r) => r.metadata.labels['iam.mortise.io/role-template']).map((r) => [r.metadata.name, r.metadata.labels['iam.mortise.io/scope']]).sort()).toEqual([['logging-logs-push', 'namespace'], ['logging-logs-view', 'namespace'], ['logging-platform-logs-view', 'global']]);
    await created(`${iam}/users`, { metadata: { name: 'carol' }, spec: { password: 'carol-Password-9x' } });
    const carol = await login(t.url, 'carol', 'carol-Password-9x');
    expect(await lines(carol, '{source="core"}')).toEqual([]);
    await created(`${iam}/globalroles`, { metadata: { name: 'log-auditor' }, rules: [], aggregationRoleTemplates: { templateNames: ['logging-platform-logs-view'] } });
    await created(`${iam}/globalrolebindings`, { metadata: { name: 'carol-log-auditor' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'log-auditor' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'carol' }] });
    // The extension caches decisions for 5 s.
    await eventually(async () => (await lines(carol, '{source="core"}')).length > 0, 15_000, 'carol reads the core\'s log');
  });

  it('tails over a websocket through the gateway, scoped like queries', async () => {
    const open = (token: string, query: string) => new Promise<{ ws: WebSocket; frames: unknown[] }>((resolve, reject) => {
      const ws = new WebSocket(`${t.url.replace('http', 'ws')}${loki}/tail?query=${encodeURIComponent(query)}&start=${Date.now() * 1e6}`, { headers: { authorization: `Bearer ${token}` } });
      const frames: unknown[] = [];
      ws.on('message', (d) => frames.push(JSON.parse(String(d))));
      ws.on('open', () => resolve({ ws, frames }));
      ws.on('error', reject);
    });
    const alice = await open(tokens.alice!, '{app="live"} |= "tick"');
    const bob = await open(tokens.bob!, '{app="live"}');
    const now = BigInt(Date.now()) * 1_000_000n;
    expect((await push(shipper.shop!, { streams: [{ stream: { app: 'live' }, values: [[String(now), 'tick 1'], [String(now + 1n), 'tock']] }] })).status).toBe(204);
    const frame = await eventually(() => alice.frames[0], 5000, 'tail frame') as { streams: Array<{ stream: Record<string, string>; values: string[][] }>; dropped_entries: null };
    expect(frame).toEqual({ streams: [{ stream: { app: 'live', namespace: 'shop', workspace: 'wsa' }, values: [[String(now), 'tick 1']] }], dropped_entries: null });
    // Nothing for bob, who cannot read shop's logs (a line of his own namespace does reach him).
    expect((await push(shipper.bank!, { streams: [{ stream: { app: 'live' }, values: [[String(now + 5n), 'bank tick']] }] })).status).toBe(204);
    const bobs = await eventually(() => bob.frames[0], 5000, 'bob tail frame') as { streams: Array<{ values: string[][] }> };
    expect(bobs.streams.flatMap((s) => s.values.map((v) => v[1]))).toEqual(['bank tick']);
    alice.ws.close();
    bob.ws.close();
  });

  it('gives a tail opened while lines stream in every line once: its recent lines, then those pushed while they were read', async () => {
    const started = BigInt(Date.now()) * 1_000_000n;
    let n = 0;
    let pushing = true;
    const pusher = (async () => {
      while (pushing) {
        const ts = BigInt(Date.now()) * 1_000_000n + BigInt(n % 1000);
        expect((await push(shipper.shop!, { streams: [{ stream: { app: 'seq' }, values: [[String(ts), `seq ${n}`]] }] })).status).toBe(204);
        n++;
      }
    })();
    // Tails opened one after another while the pushes go on (the recent lines of each are read
    // on a query thread while lines keep arriving).
    const tails: Array<{ ws: WebSocket; lines: string[] }> = [];
    for (let i = 0; i < 5; i++) {
      await eventually(() => n > (i + 1) * 15, 10_000, 'pushes');
      tails.push(await new Promise((resolve, reject) => {
        const ws = new WebSocket(`${t.url.replace('http', 'ws')}${loki}/tail?query=${encodeURIComponent('{app="seq"}')}&start=${started}&limit=5000`, { headers: { authorization: `Bearer ${tokens.alice}` } });
        const lines: string[] = [];
        ws.on('message', (d) => {
          for (const s of (JSON.parse(String(d)) as { streams: Array<{ values: string[][] }> }).streams) for (const v of s.values) lines.push(v[1]!);
        });
        ws.on('open', () => resolve({ ws, lines }));
        ws.on('error', reject);
      }));
    }
    await eventually(() => n > 100, 10_000, 'pushes after the last tail opened');
    pushing = false;
    await pusher;
    const all = Array.from({ length: n }, (_, i) => `seq ${i}`);
    for (const [i, tail] of tails.entries()) {
      await eventually(() => tail.lines.length >= n, 10_000, `tail ${i} has every line`);
      expect([...tail.lines].sort(), `tail ${i}`).toEqual([...all].sort());
      tail.ws.close();
    }
  });

  it('refuses pushes without a service account or permission, too large (413) or too fast (429 with Retry-After)', async () => {
    const body = { streams: [{ stream: { app: 'x' }, values: [[String(BigInt(Date.now()) * 1_000_000n), 'x']] }] };
    expect((await push(tokens.alice!, body)).status).toBe(403);
    await created(`${iam}/namespaces/shop/serviceaccounts`, { metadata: { name: 'nobody' } });
    const nobody = (await created(`${iam}/namespaces/shop/serviceaccounts/nobody/tokens`, {})).status!.token!;
    expect((await push(nobody, body)).status).toBe(403);
    expect((await push('mst_0000000000000000_' + 'A'.repeat(43), body)).status).toBe(401);
    expect((await push(shipper.shop!, { streams: [{ stream: { app: 'x' }, values: [['yesterday', 'x']] }] })).status).toBe(400);
    const big = await push(shipper.shop!, { streams: [{ stream: { app: 'x' }, values: [[String(BigInt(Date.now()) * 1_000_000n), 'y'.repeat(300 * 1024)]] }] });
    expect(big.status).toBe(413);
    const chunk = { streams: [{ stream: { app: 'flood' }, values: [[String(BigInt(Date.now()) * 1_000_000n), 'z'.repeat(200 * 1024)]] }] };
    let limited: Response | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const res = await push(shipper.bank!, chunk);
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(204);
    }
    expect(limited, 'a 429 within 2 MB at 300 kB/s').toBeDefined();
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another token's budget is its own.
    expect((await push(shipper.shop!, body)).status).toBe(204);
  });
});
