import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlane } from '../src/dataplane.js';
import { MeshState } from '../src/mesh-state.js';
import { validateTrafficRule } from '../src/validate.js';
import { Telemetry } from '../src/telemetry.js';
import { SpanStore } from '../src/tracing.js';
import { countingEndpoint } from './support/counting-endpoint.js';
import { pathFailingEndpoint } from './support/path-failing-endpoint.js';

// The data plane in one process, on the paths the sample application does not take: per-try and
// route timeouts (swept, not timed per request), a slow endpoint retried on another, a body
// carried through, a streamed answer larger than one chunk, and an answer stopped when its caller
// goes away.

describe('the data plane in the backend process', () => {
  const state = new MeshState();
  const telemetry = new Telemetry();
  const spans = new SpanStore(100);
  const plane = new DataPlane({ state, telemetry, spans, log: () => {} });
  let url = '';
  let slow = '';
  let fast = '';
  const servers: Server[] = [];
  const meta = (name: string) => ({ name, namespace: 't' });

  const serve = async (handler: Parameters<typeof createServer>[1]) => {
    const s = createServer(handler);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  const send = async (host: string, opts: { method?: 'GET' | 'POST'; body?: string; path?: string; headers?: Record<string, string> } = {}) => {
    const res = await request(`${url}${opts.path ?? '/'}`, { method: opts.method ?? 'GET', headers: { ...opts.headers, host }, body: opts.body });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  beforeAll(async () => {
    // Never answers.
    slow = await serve(() => {});
    fast = await serve((req, res) => {
      if (req.url === '/big') {
        res.write('a'.repeat(200_000));
        setTimeout(() => res.end('b'.repeat(200_000)), 20);
        return;
      }
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => res.end(`fast ${req.method} ${body}`));
    });
    url = await plane.listen(0);
  });

  afterAll(async () => {
    await plane.close();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  it("a rule's regular expression cannot stall the plane (catastrophic backtracking), and one that needs backtracking is refused", async () => {
    // (a+)+ against "aaa…a!" backtracks exponentially in a backtracking engine: 30 a's took
    // seconds of this one thread, the plane of every namespace, before expressions were bounded.
    state.apply('MeshService', 'ADDED', { metadata: meta('bomb'), spec: { versions: [{ name: 'v1', endpoints: [fast] }, { name: 'v2', endpoints: [fast] }], defaultVersion: 'v1' } });
    state.apply('TrafficRule', 'ADDED', { metadata: meta('bomb'), spec: { service: 'bomb', routes: [{ match: [{ headers: { 'x-user': { regex: '(a+)+' } } }], destinations: [{ version: 'v2' }] }, { destinations: [{ version: 'v1' }] }] } });
    expect((await send('bomb.t', { headers: { 'x-user': 'aaaa' } })).status).toBe(200);
    const started = Date.now();
    const answer = await send('bomb.t', { headers: { 'x-user': `${'a'.repeat(30)}!` } });
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    // Backreferences and lookarounds cannot run in linear time (nor in Istio's RE2): refused, naming the field.
    const causes = validateTrafficRule({ service: 'bomb', routes: [{ match: [{ headers: { a: { regex: '(a+)\\1' }, b: { regex: '(?=a)a' }, c: { regex: '(a+)+[0-9]*' } } }], destinations: [{ version: 'v1' }] }] }, () => ['v1']);
    expect(causes.map((c) => [c.field, c.message])).toEqual([
      ['spec.routes[0].match[0].headers.a.regex', expect.stringMatching(/linear time/)],
      ['spec.routes[0].match[0].headers.b.regex', expect.stringMatching(/linear time/)],
    ]);
  });

  it('answers 504 when no try answers within the route timeout, and retries a slow try elsewhere', async () => {
    state.apply('MeshService', 'ADDED', { metadata: meta('only-slow'), spec: { versions: [{ name: 'v1', endpoints: [slow] }] } });
    state.apply('TrafficRule', 'ADDED', { metadata: meta('only-slow'), spec: { service: 'only-slow', routes: [{ destinations: [{ version: 'v1' }], timeoutMs: 300 }] } });
    const timedOut = await send('only-slow.t');
    expect(timedOut.status).toBe(504);
    expect(timedOut.text).toContain('300 ms');

    // Two endpoints taken in turn: a try on the silent one gives up after its per-try timeout, the
    // retry goes to the other. (Generous timeouts: the machine running the tests may be busy.)
    state.apply('MeshService', 'ADDED', { metadata: meta('mixed'), spec: { versions: [{ name: 'v1', endpoints: [slow, fast] }] } });
    state.apply('TrafficRule', 'ADDED', { metadata: meta('mixed'), spec: { service: 'mixed', routes: [{ destinations: [{ version: 'v1' }], retries: { attempts: 1, perTryTimeoutMs: 1000, retryOn: ['5xx'] } }] } });
    const answers = [await send('mixed.t'), await send('mixed.t')];
    expect(answers.map((a) => [a.status, a.text])).toEqual(Array(2).fill([200, 'fast GET ']));
    const mixed = spans.spansOfTraces(spans.traceIdsTouching('t', 'mixed'));
    expect(mixed.map((s) => [s.attempts, s.events])).toEqual(Array(2).fill([2, ['retry after per-try timeout']]));
  });

  // The same CircuitBreaker limits as the nginx plane's (nginx-plane.test.ts), with the same answers.
  it('refuses requests beyond maxRequests with 503 and its reason; keeps to maxConnections per endpoint, more waiting', async () => {
    const countingServer = await countingEndpoint(150);
    servers.push(countingServer.server);
    const counting = countingServer.url;
    state.apply('MeshService', 'ADDED', { metadata: meta('limited'), spec: { versions: [{ name: 'v1', endpoints: [counting] }] } });
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('limited'), spec: { service: 'limited', connectionPool: { maxRequests: 2 } } });
    const burst = await Promise.all(Array.from({ length: 6 }, () => send('limited.t')));
    expect(burst.filter((a) => a.status === 200)).toHaveLength(2);
    const refused = burst.filter((a) => a.status === 503 && a.headers['x-mesh-overflow'] === '1');
    expect(refused).toHaveLength(4);
    expect(refused[0]!.text).toMatch(/^limited\.t: more than 2 requests in flight \(CircuitBreaker\)/);

    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('limited'), spec: { service: 'limited', connectionPool: { maxConnections: 2 } } });
    countingServer.reset();
    const queued = await Promise.all(Array.from({ length: 8 }, () => send('limited.t')));
    expect(queued.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(countingServer.peak()).toBe(2);
  });

  // Envoy's http1MaxPendingRequests: past maxPendingRequests waiting for a place, 503 at once (as nginx-plane.test.ts).
  it('refuses a request that would wait for a connection while maxPendingRequests already wait', async () => {
    const slowOneServer = await countingEndpoint(300);
    servers.push(slowOneServer.server);
    const slowOne = slowOneServer.url;
    state.apply('MeshService', 'ADDED', { metadata: meta('pending'), spec: { versions: [{ name: 'v1', endpoints: [slowOne] }] } });
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('pending'), spec: { service: 'pending', connectionPool: { maxConnections: 1, maxPendingRequests: 2 } } });
    const before = telemetry.window((e) => e.service === 'pending', 60).requests;
    const burst = await Promise.all(Array.from({ length: 6 }, () => send('pending.t')));
    expect(burst.filter((a) => a.status === 200)).toHaveLength(3);
    const refused = burst.filter((a) => a.status === 503 && a.headers['x-mesh-overflow'] === '1');
    expect(refused).toHaveLength(3);
    expect(refused[0]!.text).toMatch(/^pending\.t: more than 2 requests waiting for a connection to version v1 \(CircuitBreaker\)/);
    expect(slowOneServer.peak()).toBe(1);
    // Counted as the other overflows are: a 503 of the edge, an overflow event in its span.
    const w = telemetry.window((e) => e.service === 'pending', 60);
    expect(w.requests - before).toBe(6);
    expect(spans.spansOfTraces(spans.traceIdsTouching('t', 'pending')).filter((s) => s.status === 503 && s.events?.includes('overflow'))).toHaveLength(3);
    // Once the queue is drained, places and waiting room are free again.
    expect((await Promise.all(Array.from({ length: 3 }, () => send('pending.t')))).map((a) => a.status)).toEqual([200, 200, 200]);
  });

  // Envoy's limits are per cluster (a service's version): two services sharing an endpoint do not share its places.
  it('keeps maxConnections per service and version, not per endpoint address', async () => {
    const sharedServer = await countingEndpoint(300);
    servers.push(sharedServer.server);
    const shared = sharedServer.url;
    for (const name of ['left', 'right']) {
      state.apply('MeshService', 'ADDED', { metadata: meta(name), spec: { versions: [{ name: 'v1', endpoints: [shared] }, { name: 'v2', endpoints: [shared] }] } });
      state.apply('CircuitBreaker', 'ADDED', { metadata: meta(name), spec: { service: name, connectionPool: { maxConnections: 1 } } });
    }
    state.apply('TrafficRule', 'ADDED', { metadata: meta('right'), spec: { service: 'right', routes: [{ match: [{ headers: { 'x-v': { exact: '2' } } }], destinations: [{ version: 'v2' }] }, { destinations: [{ version: 'v1' }] }] } });
    const both = await Promise.all([send('left.t'), send('right.t'), send('right.t', { headers: { 'x-v': '2' } })]);
    expect(both.map((a) => a.status)).toEqual([200, 200, 200]);
    // None waited for another's place: all three at the endpoint at once (a clock would say less, and flake).
    expect(sharedServer.peak()).toBe(3);
  });

  // Envoy's outlier detection is per cluster too: one service's 5xx streak at a shared address
  // ejects it for that service only (as nginx-plane.test.ts).
  it('ejects an endpoint for the service whose requests fail there, not for another sharing it', async () => {
    const shared = await pathFailingEndpoint('/fail');
    const spare = await pathFailingEndpoint('/never');
    servers.push(shared.server, spare.server);
    for (const name of ['east', 'west']) {
      state.apply('MeshService', 'ADDED', { metadata: meta(name), spec: { versions: [{ name: 'v1', endpoints: [shared.url, spare.url] }] } });
      state.apply('CircuitBreaker', 'ADDED', { metadata: meta(name), spec: { service: name, outlierDetection: { consecutive5xxErrors: 2, baseEjectionTimeMs: 60_000 } } });
    }
    const east = [];
    for (let i = 0; i < 10; i++) east.push((await send('east.t', { path: '/fail' })).status);
    // Ejected for east on its second failure there: the rest went to the spare.
    expect(east.filter((s) => s === 500)).toHaveLength(2);
    expect(shared.hits('east.t')).toBe(2);
    const endpoints = plane.endpoints;
    expect(endpoints.state('t/east/v1', shared.url).ejected).toBe(true);
    expect(endpoints.state('t/west/v1', shared.url)).toMatchObject({ ejected: false, consecutive5xx: 0, ejections: 0 });
    // west still takes its turns at the shared endpoint, where its requests succeed.
    const west = [];
    for (let i = 0; i < 10; i++) west.push((await send('west.t')).status);
    expect(west).toEqual(Array(10).fill(200));
    expect(shared.hits('west.t')).toBe(5);
    expect(endpoints.state('t/east/v1', shared.url).ejected).toBe(true);
  });

  // Envoy's shadow goes through the mirror cluster and its breakers (as nginx-plane.test.ts): a
  // copy beyond maxConnections is dropped, a 503 of the mirror's edge, its primary untouched.
  it('keeps mirrored copies to the mirror version\'s maxConnections, dropping the rest without touching their primaries', async () => {
    // v1's primaries are limited too (2 at once of the 4): a primary's places are its own until its
    // answer ends, however long its copy runs.
    const primary = await countingEndpoint(0);
    const shadow = await countingEndpoint(1000);
    servers.push(primary.server, shadow.server);
    state.apply('MeshService', 'ADDED', { metadata: meta('mirrored'), spec: { versions: [{ name: 'v1', endpoints: [primary.url] }, { name: 'v2', endpoints: [shadow.url] }] } });
    state.apply('TrafficRule', 'ADDED', { metadata: meta('mirrored'), spec: { service: 'mirrored', routes: [{ destinations: [{ version: 'v1' }], mirror: { version: 'v2', percent: 100 } }] } });
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('mirrored'), spec: { service: 'mirrored', connectionPool: { maxConnections: 2 } } });
    const answers = await Promise.all(Array.from({ length: 4 }, () => send('mirrored.t')));
    expect(answers.map((a) => [a.status, a.headers['x-mesh-version']])).toEqual(Array(4).fill([200, 'v1']));
    const copies = () => telemetry.window((e) => e.service === 'mirrored' && e.version === 'v2', 60);
    await expect.poll(() => copies().requests, { timeout: 5000 }).toBe(4);
    // Two copies had a place, two were dropped (none waited for one).
    expect(copies().errors).toBe(2);
    expect(shadow.peak()).toBe(2);
    expect(telemetry.window((e) => e.service === 'mirrored' && e.version === 'v1', 60).p99Ms).toBeLessThan(500);
  });

  it('sends the caller\'s Host on, and a mirrored copy with "-shadow" appended (as Envoy), no X-Forwarded-Host', async () => {
    const seen: Array<[string, string | undefined, string | undefined]> = [];
    const recorder = (name: string) => serve((req, res) => {
      seen.push([name, req.headers.host, req.headers['x-forwarded-host'] as string | undefined]);
      res.end('ok');
    });
    const [v1, v2] = [await recorder('v1'), await recorder('v2')];
    state.apply('MeshService', 'ADDED', { metadata: meta('hosts'), spec: { versions: [{ name: 'v1', endpoints: [v1] }, { name: 'v2', endpoints: [v2] }] } });
    state.apply('TrafficRule', 'ADDED', { metadata: meta('hosts'), spec: { service: 'hosts', routes: [{ destinations: [{ version: 'v1' }], mirror: { version: 'v2', percent: 100 } }] } });
    expect((await send('Hosts.T:8080')).status).toBe(200);
    await expect.poll(() => seen.length, { timeout: 5000 }).toBe(2);
    expect(seen.sort()).toEqual([['v1', 'hosts.t', undefined], ['v2', 'hosts.t-shadow', undefined]]);
  });

  it('carries a request body and streams an answer of several chunks', async () => {
    state.apply('MeshService', 'ADDED', { metadata: meta('echo'), spec: { versions: [{ name: 'v1', endpoints: [fast] }] } });
    const posted = await send('echo.t', { method: 'POST', body: 'hello' });
    expect([posted.status, posted.text, posted.headers['x-mesh-version']]).toEqual([200, 'fast POST hello', 'v1']);
    const big = await send('echo.t', { path: '/big' });
    expect(big.text).toBe('a'.repeat(200_000) + 'b'.repeat(200_000));
    // Telemetry and a span for each.
    expect(telemetry.window((e) => e.service === 'echo', 60).requests).toBe(2);
    expect(spans.list({ service: 'echo' })).toHaveLength(2);
  });

  it("respects the caller's sampled flag: no span for an unsampled trace, the flag passed on", async () => {
    let seen = '';
    const echo = await serve((req, res) => {
      seen = String(req.headers.traceparent);
      res.end('ok');
    });
    state.apply('MeshService', 'ADDED', { metadata: meta('sampled'), spec: { versions: [{ name: 'v1', endpoints: [echo] }] } });
    const unsampled = 'ab'.repeat(16);
    const res = await request(`${url}/`, { headers: { host: 'sampled.t', traceparent: `00-${unsampled}-${'cd'.repeat(8)}-00` } });
    await res.body.text();
    expect(seen).toMatch(new RegExp(`^00-${unsampled}-[0-9a-f]{16}-00$`));
    expect(telemetry.window((e) => e.service === 'sampled', 60).requests).toBe(1);
    expect(spans.spansOf(unsampled)).toEqual([]);
    await (await request(`${url}/`, { headers: { host: 'sampled.t', traceparent: `00-${'12'.repeat(16)}-${'cd'.repeat(8)}-01` } })).body.text();
    expect(spans.spansOf('12'.repeat(16))).toHaveLength(1);
  });

  it("stops the upstream's answer when the caller goes away", async () => {
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((r) => (closed = r));
    const endless = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('x'.repeat(1000)), 5);
      res.on('close', () => {
        clearInterval(t);
        closed();
      });
    });
    state.apply('MeshService', 'ADDED', { metadata: meta('endless'), spec: { versions: [{ name: 'v1', endpoints: [endless] }] } });
    const caller = connect(Number(new URL(url).port), '127.0.0.1');
    caller.write('GET / HTTP/1.1\r\nHost: endless.t\r\n\r\n');
    await new Promise<void>((r) => caller.once('data', () => r()));
    caller.destroy();
    await upstreamClosed;
    await expect.poll(() => spans.list({ service: 'endless' }).length).toBe(1);
    expect(spans.spansOf(spans.list({ service: 'endless' })[0]!.traceId)[0]!.status).toBe(0);
  });
});
