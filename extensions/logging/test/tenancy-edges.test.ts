import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../../core/src/ops/logger.js';
import { call, eventually, login, startTestCore, type TestCore } from '../../../core/test/support/test-core.js';
import { installPlan } from './install-plans.js';
import { PushRequest, snappy } from './loki-push-wire.js';

// The edges of tenancy and of bad input, against the extension installed in a real core: a tail
// that outlives the reader's role, queries that would stall the backend, parameters and pushed
// timestamps out of range.

const extensionsDir = join(import.meta.dirname, '..', '..');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const label = 'tenant.mortise.io/workspace';
const loki = '/proxy/logging/loki/api/v1';
const nowNs = () => BigInt(Date.now()) * 1_000_000n;


type Streams = Array<{ stream: Record<string, string>; values: Array<[string, string]> }>;
interface Frame { streams: Streams }

describe('the logging extension at the edges', () => {
  let t: TestCore;
  const work = mkdtempSync(join(tmpdir(), 'logging-edges-'));
  let alice = '';
  let shipper = '';

  const created = async (path: string, body: unknown) => {
    const res = await t.api(path, { method: 'POST', json: body });
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(201);
    return (await res.json()) as { status?: { token?: string } };
  };
  const push = (token: string, body: unknown) =>
    call(t.url, token, `${loki}/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const query = async (token: string, params: Record<string, string>) => {
    const res = await call(t.url, token, `${loki}/query_range?${new URLSearchParams(params)}`);
    return { status: res.status, body: (await res.json()) as { data?: { result: Streams }; message?: string } };
  };
  const lines = async (token: string, q: string) => {
    const { status, body } = await query(token, { query: q, start: String(nowNs() - 3_600_000_000_000n) });
    expect(status, JSON.stringify(body)).toBe(200);
    return body.data!.result.flatMap((s) => s.values.map((v) => v[1]));
  };

  beforeAll(async () => {
    t = await startTestCore();
    const repo = await buildBundledRepository([extensionsDir], join(work, 'repo'), createLogger({ level: 'silent' }));
    await created(`${ext}/repositories`, { metadata: { name: 'local' }, spec: { url: repo.url } });
    await eventually(async () => (await t.api(`${ext}/extensionversions/logging-0.1.0`)).status === 200, 20_000, 'repository synced');
    await installPlan(t, 'logging', { audit: { enabled: false }, ingest: { bytesPerSecond: 1_000_000, burstBytes: 3_000_000, maxStreamsPerNamespace: 40 } });
    await created(`${iam}/users`, { metadata: { name: 'alice' }, spec: { password: 'alice-Password-9x' } });
    alice = await login(t.url, 'alice', 'alice-Password-9x');
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsa' }, spec: { manager: 'admin' } });
    await eventually(async () => (await t.api(`${iam}/workspaceroles/wsa-viewer`)).status === 200, 5000, 'workspace roles');
    await created(`${iam}/workspacerolebindings`, {
      metadata: { name: 'wsa-alice', labels: { [label]: 'wsa' } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: 'wsa-viewer' },
      subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'alice' }],
    });
    await created('/api/v1/namespaces', { metadata: { name: 'shop', labels: { [label]: 'wsa' } } });
    await created(`${iam}/namespaces/shop/serviceaccounts`, { metadata: { name: 'shipper' } });
    await created(`${iam}/namespaces/shop/roles`, { metadata: { name: 'log-pusher' }, rules: [{ apiGroups: ['logging.mortise.io'], resources: ['logs'], verbs: ['create'] }] });
    await created(`${iam}/namespaces/shop/rolebindings`, {
      metadata: { name: 'shipper-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' },
      subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'system:serviceaccount:shop:shipper' }],
    });
    shipper = (await created(`${iam}/namespaces/shop/serviceaccounts/shipper/tokens`, {})).status!.token!;
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('matches regexes in linear time with RE2\'s syntax: a pathological pattern neither hangs the backend nor others\' queries', async () => {
    const at = nowNs();
    expect((await push(shipper, { streams: [{ stream: { app: 'redos' }, values: [[String(at), `${'a'.repeat(64)}!`], [String(at + 1n), 'An ERROR here']] }] })).status).toBe(204);
    const started = Date.now();
    // Backtracking engines take 2^64 steps for this line; the query must answer at once, with nothing.
    const res = await call(t.url, alice, `${loki}/query_range?${new URLSearchParams({ query: '{app="redos"} |~ "(a|aa)+$"', start: String(at - 1000n) })}`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { result: Streams } }).data.result).toEqual([]);
    for (const q of ['{app=~"(r|re|red|redo)+s"} != "x"', '{app="redos"} | level=~"(a|aa)+$"']) {
      const r = await call(t.url, alice, `${loki}/query_range?${new URLSearchParams({ query: q, start: String(at - 1000n) })}`, { signal: AbortSignal.timeout(10_000) });
      expect(r.status, q).toBe(200);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    // Loki's (Go's) syntax: inline flags work; lookarounds, which RE2 lacks, answer 400 with the position.
    expect(await lines(alice, '{app="redos"} |~ "(?i)error"')).toEqual(['An ERROR here']);
    const bad = await query(alice, { query: '{app="redos"} |~ "a(?=b)"' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/parse error at line 1, col 18: invalid regular expression/);
  });

  it('answers times and ranges beyond the store\'s int64 nanoseconds as Loki does, or 400 — never 500 — and a refused push stores nothing', async () => {
    const at = nowNs();
    expect((await push(shipper, { streams: [{ stream: { app: 'times' }, values: [[String(at), 'in range']] }] })).status).toBe(204);
    // An end past the year 2262 means "up to now and beyond".
    for (const end of ['9999-12-31T00:00:00Z', '99999999999999999999999']) {
      const r = await query(alice, { query: '{app="times"}', start: String(at - 1000n), end });
      expect(r.status, `end=${end}: ${JSON.stringify(r.body)}`).toBe(200);
      expect(r.body.data!.result.flatMap((s) => s.values.map((v) => v[1]))).toEqual(['in range']);
    }
    const wide = await call(t.url, alice, `${loki}/query?${new URLSearchParams({ query: 'sum(count_over_time({app="times"}[100000y]))' })}`);
    expect(wide.status, await wide.clone().text()).toBe(200);
    expect(((await wide.json()) as { data: { result: Array<{ value: [number, string] }> } }).data.result[0]!.value[1]).toBe('1');
    for (const q of ['count_over_time({app="times"}[300000y])', `count_over_time({app="times"}[${'9'.repeat(400)}y])`, 'count_over_time({app="times"}[1.5ms])']) {
      const r = await call(t.url, alice, `${loki}/query?${new URLSearchParams({ query: q })}`);
      expect(r.status, q).toBe(400);
      expect(((await r.json()) as { message: string }).message, q).toMatch(/invalid range/);
    }
    // A batch with one timestamp out of range is refused whole, with a message.
    const refused = await push(shipper, { streams: [
      { stream: { app: 'times' }, values: [[String(at + 1n), 'same batch, valid']] },
      { stream: { app: 'times' }, values: [['9999999999999999999', 'too late']] },
    ] });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toMatch(/timestamp 9999999999999999999 is out of range/);
    expect(await lines(alice, '{app="times"}')).toEqual(['in range']);
    // The store goes on taking pushes.
    expect((await push(shipper, { streams: [{ stream: { app: 'times' }, values: [[String(at + 2n), 'after']] }] })).status).toBe(204);
    expect(await lines(alice, '{app="times"}')).toEqual(['after', 'in range']);
  });

  it('refuses pushed streams that claim to be the platform\'s (audit, core, extension, devops): a tenant cannot plant lines in them', async () => {
    const at = String(nowNs());
    const forged = JSON.stringify({ auditID: 'forged', verb: 'delete', user: { username: 'admin' } });
    for (const stream of [{ source: 'audit', job: 'mortise/audit' }, { source: 'audit' }, { source: 'core' }, { source: 'extension', extension: 'logging' }, { source: 'devops', pipeline: 'build', run: 'build-1' }, { job: 'mortise/audit' }]) {
      const res = await push(shipper, { streams: [{ stream, values: [[at, forged]] }] });
      expect(res.status, JSON.stringify(stream)).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(/reserved for the platform's own streams/);
    }
    // Other values of those labels are the shipper's to use.
    expect((await push(shipper, { streams: [{ stream: { source: 'nginx', job: 'shop/web' }, values: [[at, 'a tenant line']] }] })).status).toBe(204);
    expect(await lines(alice, '{source="nginx"}')).toEqual(['a tenant line']);
    // What a platform admin reads as the audit stream holds none of it.
    expect(await lines(t.token, '{source="audit"} |= "forged"')).toEqual([]);
    expect(await lines(t.token, '{job=~"mortise/.+"} |= "forged"')).toEqual([]);
  });

  it('labels the first lines pushed into a namespace just created with its workspace', async () => {
    // The namespace list is cached for 5 s: warm it, then create a namespace and push at once.
    await lines(alice, '{app="nothing"}');
    await created('/api/v1/namespaces', { metadata: { name: 'brand-new', labels: { [label]: 'wsa' } } });
    await created(`${iam}/namespaces/brand-new/serviceaccounts`, { metadata: { name: 'shipper' } });
    await created(`${iam}/namespaces/brand-new/roles`, { metadata: { name: 'log-pusher' }, rules: [{ apiGroups: ['logging.mortise.io'], resources: ['logs'], verbs: ['create'] }] });
    await created(`${iam}/namespaces/brand-new/rolebindings`, {
      metadata: { name: 'shipper-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' },
      subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'system:serviceaccount:brand-new:shipper' }],
    });
    const token = (await created(`${iam}/namespaces/brand-new/serviceaccounts/shipper/tokens`, {})).status!.token!;
    expect((await push(token, { streams: [{ stream: { app: 'first' }, values: [[String(nowNs()), 'first line']] }] })).status).toBe(204);
    const series = await call(t.url, t.token, `${loki}/series?${new URLSearchParams({ 'match[]': '{app="first"}' })}`);
    expect(((await series.json()) as { data: unknown }).data).toEqual([{ app: 'first', namespace: 'brand-new', workspace: 'wsa' }]);
  });

  it('does not hand a deleted namespace\'s lines to whoever creates a namespace of the same name later, in another workspace', async () => {
    const shipperOf = async (ns: string) => {
      await created(`${iam}/namespaces/${ns}/serviceaccounts`, { metadata: { name: 'shipper' } });
      await created(`${iam}/namespaces/${ns}/roles`, { metadata: { name: 'log-pusher' }, rules: [{ apiGroups: ['logging.mortise.io'], resources: ['logs'], verbs: ['create'] }] });
      await created(`${iam}/namespaces/${ns}/rolebindings`, {
        metadata: { name: 'shipper-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' },
        subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: `system:serviceaccount:${ns}:shipper` }],
      });
      return (await created(`${iam}/namespaces/${ns}/serviceaccounts/shipper/tokens`, {})).status!.token!;
    };
    // wsa's namespace "prod" logs a secret, then is deleted.
    await created('/api/v1/namespaces', { metadata: { name: 'prod', labels: { [label]: 'wsa' } } });
    const old = await shipperOf('prod');
    expect((await push(old, { streams: [{ stream: { app: 'payments' }, values: [[String(nowNs()), 'card 4111-1111 of wsa']] }] })).status).toBe(204);
    // (Alice's scope is cached for 5 s: the new namespace may take that long to reach it.)
    await eventually(async () => (await lines(alice, '{namespace="prod"}'))[0] === 'card 4111-1111 of wsa', 15_000, 'alice reads prod');
    expect((await t.api('/api/v1/namespaces/prod', { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => (await t.api('/api/v1/namespaces/prod')).status === 404, 15_000, 'prod deleted');
    // Creation times are in whole seconds: the new namespace comes a second after the last old line.
    await new Promise((r) => setTimeout(r, 1100));

    // Another workspace takes the name; its member reads the new namespace's lines, not the old ones.
    await created(`${iam}/users`, { metadata: { name: 'mallory' }, spec: { password: 'mallory-Password-9x' } });
    const mallory = await login(t.url, 'mallory', 'mallory-Password-9x');
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsm' }, spec: { manager: 'admin' } });
    await eventually(async () => (await t.api(`${iam}/workspaceroles/wsm-viewer`)).status === 200, 5000, 'workspace roles');
    await created(`${iam}/workspacerolebindings`, {
      metadata: { name: 'wsm-mallory', labels: { [label]: 'wsm' } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: 'wsm-viewer' },
      subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'mallory' }],
    });
    await created('/api/v1/namespaces', { metadata: { name: 'prod', labels: { [label]: 'wsm' } } });
    const fresh = await shipperOf('prod');
    expect((await push(fresh, { streams: [{ stream: { app: 'shop' }, values: [[String(nowNs()), 'mallory\'s own line']] }] })).status).toBe(204);
    // Her scope is asked anew once the extension's 5 s caches have passed.
    await eventually(async () => (await lines(mallory, '{namespace="prod"}')).includes('mallory\'s own line'), 15_000, 'mallory reads the new prod');
    expect(await lines(mallory, '{namespace="prod"}')).toEqual(['mallory\'s own line']);
    expect(await lines(mallory, '{app="payments"}')).toEqual([]);
    const get = async (path: string, params: Record<string, string>) => (await (await call(t.url, mallory, `${loki}${path}?${new URLSearchParams(params)}`)).json()) as { data: unknown };
    expect((await get('/label/app/values', {})).data).toEqual(['shop']);
    // (Its workspace label comes from a namespace list cached for 5 s: within that, still the old one's.)
    expect(((await get('/series', { 'match[]': '{namespace="prod"}' })).data as Array<Record<string, string>>).map((s) => s.app)).toEqual(['shop']);
    const count = (await get('/query', { query: 'sum(count_over_time({namespace="prod"}[1h]))' })).data as { result: Array<{ value: [number, string] }> };
    expect(count.result[0]!.value[1]).toBe('1');
    // The platform admin still reads both (nothing was deleted).
    expect((await lines(t.token, '{namespace="prod"}')).sort()).toEqual(['card 4111-1111 of wsa', 'mallory\'s own line']);
  });

  it('answers 422 to a line_format that multiplies long lines (which ran the backend out of memory), in queries and tails, and goes on answering', async () => {
    const at = nowNs();
    const long = 'y'.repeat(200 * 1024);
    expect((await push(shipper, { streams: [{ stream: { app: 'wide' }, values: [0n, 1n, 2n, 3n].map((i) => [String(at + i), long]) }] })).status).toBe(204);
    const fmt = `{app="wide"} | line_format "${'{{.__line__}}'.repeat(600)}"`;
    const started = Date.now();
    const r = await query(alice, { query: fmt, start: String(at - 1000n) });
    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/line_format makes a line longer than 262144 characters/);
    expect(Date.now() - started).toBeLessThan(5000);
    const tail = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${t.url.replace('http', 'ws')}${loki}/tail?query=${encodeURIComponent(fmt)}&start=${at - 1000n}`, { headers: { authorization: `Bearer ${alice}` } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('the tail opened')));
      ws.on('error', reject);
    });
    expect(tail).toBe(422);
    // The backend is still there for everyone.
    expect(await lines(alice, '{app="wide"} | line_format "{{.app}}"')).toEqual(['wide', 'wide', 'wide', 'wide']);
  });

  it('parses logfmt in one pass and deep JSON without a 500: a long word held the backend for minutes', async () => {
    const at = nowNs();
    const word = 'w'.repeat(250 * 1024);
    const deep = `${'{"a":'.repeat(40_000)}1${'}'.repeat(40_000)}`;
    expect((await push(shipper, { streams: [{ stream: { app: 'parse' }, values: [[String(at), word], [String(at + 1n), deep], [String(at + 2n), 'level=warn msg="disk \\"full\\"" x']] }] })).status).toBe(204);
    const started = Date.now();
    const r = await call(t.url, alice, `${loki}/query_range?${new URLSearchParams({ query: '{app="parse"} | logfmt | line_format "{{.level}} {{.msg}}"', start: String(at - 1000n), direction: 'forward' })}`, { signal: AbortSignal.timeout(10_000) });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { data: { result: Streams } }).data.result.flatMap((s) => s.values.map((v) => v[1]))).toEqual([' ', ' ', 'warn disk "full"']);
    expect(Date.now() - started).toBeLessThan(5000);
    const j = await query(alice, { query: '{app="parse"} | json | __error__="JSONParserErr"', start: String(at - 1000n) });
    expect(j.status, JSON.stringify(j.body).slice(0, 300)).toBe(200);
    expect(j.body.data!.result.flatMap((s) => s.values)).toHaveLength(3);
  });

  it('bounds what a small compressed push costs: 413 for millions of two-byte lines, 429 for snappy lines beyond the byte rate', async () => {
    const protoPush = (body: Uint8Array) => call(t.url, shipper, `${loki}/push`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: snappy.compress(body) as RequestInit['body'] });
    // One stream {app="bomb"} of 4 M empty entries (field 2, length 0): 8 MB of protobuf, ~375 kB snappy.
    const labels = Buffer.from('{app="bomb"}');
    const stream = Buffer.concat([Buffer.from([0x0a, labels.length]), labels, Buffer.alloc(8_000_000, Buffer.from([0x12, 0x00]))]);
    const varint = (n: number) => { const out: number[] = []; for (; n > 127; n >>>= 7) out.push((n & 127) | 128); out.push(n); return Buffer.from(out); };
    const started = Date.now();
    const bomb = await protoPush(Buffer.concat([Buffer.from([0x0a]), varint(stream.length), stream]));
    expect(bomb.status).toBe(413);
    expect(((await bomb.json()) as { message: string }).message).toMatch(/holds 4000001 streams and lines, more than the 100000 allowed/);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await lines(alice, '{app="bomb"}')).toEqual([]);

    // 2 MB of lines compress to a few kB; the rate (1 MB/s, burst 3 MB) counts the lines.
    await new Promise((r) => setTimeout(r, 3000));
    const secs = Math.floor(Date.now() / 1000);
    const big = PushRequest.encode(PushRequest.fromObject({ streams: [{ labels: '{app="squeezed"}', entries: Array.from({ length: 8 }, (_, i) => ({ timestamp: { seconds: secs, nanos: i }, line: 'x'.repeat(250_000) })) }] })).finish();
    expect(snappy.compress(big).length).toBeLessThan(200_000);
    expect((await protoPush(big)).status).toBe(204);
    const second = await protoPush(big);
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another service account of the same namespace shares its budget: more accounts, no more rate.
    await created(`${iam}/namespaces/shop/serviceaccounts`, { metadata: { name: 'second' } });
    await created(`${iam}/namespaces/shop/rolebindings`, {
      metadata: { name: 'second-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' },
      subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'system:serviceaccount:shop:second' }],
    });
    const other = (await created(`${iam}/namespaces/shop/serviceaccounts/second/tokens`, {})).status!.token!;
    const third = await call(t.url, other, `${loki}/push`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: snappy.compress(big) as RequestInit['body'] });
    expect(third.status).toBe(429);
    expect(((await third.json()) as { message: string }).message).toMatch(/rate limit exceeded for namespace shop/);
  });

  it('holds at most maxStreamsPerNamespace streams per namespace (Loki\'s stream limit): a push adding more answers 429 and stores nothing; other namespaces are not held by it', async () => {
    // A namespace of its own, with a shipper: 40 streams fill it.
    await created('/api/v1/namespaces', { metadata: { name: 'crowd' } });
    await created(`${iam}/namespaces/crowd/serviceaccounts`, { metadata: { name: 'shipper' } });
    await created(`${iam}/namespaces/crowd/roles`, { metadata: { name: 'log-pusher' }, rules: [{ apiGroups: ['logging.mortise.io'], resources: ['logs'], verbs: ['create'] }] });
    await created(`${iam}/namespaces/crowd/rolebindings`, {
      metadata: { name: 'shipper-pushes' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'log-pusher' },
      subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'system:serviceaccount:crowd:shipper' }],
    });
    const crowd = (await created(`${iam}/namespaces/crowd/serviceaccounts/shipper/tokens`, {})).status!.token!;
    const at = nowNs();
    const stream = (id: number, line: string) => ({ stream: { app: 'crowd', request: `r${id}` }, values: [[String(at + BigInt(id)), line]] });
    // The same new stream twice in one push counts once: 39 + 1 = 40.
    expect((await push(crowd, { streams: Array.from({ length: 39 }, (_, i) => stream(i, 'first')) })).status).toBe(204);
    expect((await push(crowd, { streams: [stream(39, 'a'), stream(39, 'b')] })).status).toBe(204);
    // A 41st: refused whole, the line for a stream it already holds included.
    const over = await push(crowd, { streams: [stream(0, 'same push, held stream'), stream(40, 'one too many')] });
    expect(over.status).toBe(429);
    expect(((await over.json()) as { message: string }).message).toMatch(/Maximum active stream limit exceeded.*namespace crowd holds 40 streams, this push would add 1, the limit is 40/);
    // Lines for streams it holds still go in; another namespace still takes new streams.
    expect((await push(crowd, { streams: [stream(1, 'second')] })).status).toBe(204);
    expect((await push(shipper, { streams: [{ stream: { app: 'not-crowded' }, values: [[String(at), 'fine']] }] })).status).toBe(204);
    const q = async (query: string) => {
      const res = await call(t.url, t.token, `${loki}/query_range?${new URLSearchParams({ query, start: String(at - 1000n), limit: '1000' })}`);
      return ((await res.json()) as { data: { result: Streams } }).data.result.flatMap((s) => s.values.map((v) => v[1]));
    };
    const stored = await q('{namespace="crowd"}');
    expect(stored).toHaveLength(42);
    expect(stored).not.toContain('same push, held stream');
    expect(stored).not.toContain('one too many');
    expect(await q('{app="not-crowded"}')).toEqual(['fine']);
  });

  it('keeps at most 10 tails open per user (Loki\'s max_concurrent_tail_requests): the 11th answers 429 until one closes', async () => {
    // A user of their own, so that the slots coming back late do not touch the other tests.
    await created(`${iam}/users`, { metadata: { name: 'tailer' }, spec: { password: 'tailer-Password-9x' } });
    const tailer = await login(t.url, 'tailer', 'tailer-Password-9x');
    const opening = () => new Promise<{ ws?: WebSocket; status?: number }>((resolve, reject) => {
      const ws = new WebSocket(`${t.url.replace('http', 'ws')}${loki}/tail?query=${encodeURIComponent('{app="many-tails"}')}`, { headers: { authorization: `Bearer ${tailer}` } });
      ws.on('open', () => resolve({ ws }));
      ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
      ws.on('error', reject);
    });
    // Opened all at once: each must count before the others are let through.
    const first = await Promise.all(Array.from({ length: 12 }, opening));
    expect(first.filter((o) => o.ws)).toHaveLength(10);
    expect(first.filter((o) => o.status === 429)).toHaveLength(2);
    const close = (ws: WebSocket) => new Promise((r) => { ws.on('close', r); ws.close(); });
    await close(first.find((o) => o.ws)!.ws!);
    const again = await eventually(async () => (await opening()).ws, 5000, 'a tail again once one closed');
    await Promise.all([again, ...first.flatMap((o) => (o.ws && o.ws.readyState === WebSocket.OPEN ? [o.ws] : []))].map(close));
    // Every slot given back (the server sees the closes a moment after the client).
    await eventually(async () => {
      const all = await Promise.all(Array.from({ length: 10 }, opening));
      await Promise.all(all.flatMap((o) => (o.ws ? [close(o.ws)] : [])));
      return all.every((o) => o.ws);
    }, 5000, 'ten tails again');
  });

  // Last: it takes alice's role away.
  it('stops a tail once the reader\'s role is removed, and closes it with 1008', async () => {
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}${loki}/tail?query=${encodeURIComponent('{app="live"}')}&start=${nowNs()}`, { headers: { authorization: `Bearer ${alice}` } });
    const frames: Frame[] = [];
    let closed: number | undefined;
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Frame));
    ws.on('close', (code) => (closed = code));
    await new Promise((resolve, reject) => ws.on('open', resolve).on('error', reject));
    const got = () => frames.flatMap((f) => f.streams.flatMap((s) => s.values.map((v) => v[1])));

    expect((await push(shipper, { streams: [{ stream: { app: 'live' }, values: [[String(nowNs()), 'while a member']] }] })).status).toBe(204);
    await eventually(() => got().includes('while a member'), 5000, 'the line while alice is a member');

    expect((await t.api(`${iam}/workspacerolebindings/wsa-alice`, { method: 'DELETE' })).status).toBe(200);
    // Once queries refuse her (the extension caches decisions for 5 s), the open tail must too.
    await eventually(async () => (await lines(alice, '{app="live"}')).length === 0, 15_000, 'queries no longer show alice shop\'s lines');
    expect((await push(shipper, { streams: [{ stream: { app: 'live' }, values: [[String(nowNs()), 'after the role went']] }] })).status).toBe(204);
    await eventually(() => closed, 5000, 'the tail closed');
    expect(closed).toBe(1008);
    expect(got()).toEqual(['while a member']);
  });
});
