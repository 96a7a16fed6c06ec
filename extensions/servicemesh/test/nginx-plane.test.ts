import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, createServer as netServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids } from '@mortise/extension-sdk/util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desiredStatus } from '../src/gray-release.js';
import { MeshState } from '../src/mesh-state.js';
import { findNginx, NginxDataPlane } from '../src/nginx-plane.js';
import type { GrayRelease } from '../src/types.js';
import { many as manyCalls, sendThrough } from './support/mesh-client.js';
import { startShopService, type ShopProcess } from './support/mesh-shop.js';
import { countingEndpoint } from './support/counting-endpoint.js';
import { pathFailingEndpoint } from './support/path-failing-endpoint.js';

// The native data plane: Debian's nginx run as a child process, its configuration generated from
// the mesh's rules, with the sample shop's services as real processes calling each other through
// it. Every scenario goes through real nginx; spans and telemetry come from its access log.

/** `p`, or a failure saying `what` did not happen within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const freePort = () => new Promise<number>((resolve) => {
  const s = netServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as AddressInfo;
    s.close(() => resolve(port));
  });
});

describe('the nginx data plane', () => {
  const nginx = findNginx();
  const state = new MeshState();
  const logs: string[] = [];
  let plane: NginxDataPlane;
  let dir = '';
  let url = '';
  const procs: ShopProcess[] = [];
  const servers: Server[] = [];
  const meta = (name: string) => ({ name, namespace: 'shop' });
  const svc = (name: string, versions: Array<[string, string[]]>) => state.apply('MeshService', 'ADDED', { metadata: meta(name), spec: { versions: versions.map(([v, endpoints]) => ({ name: v, endpoints })) } });
  const rule = (name: string, service: string, routes: unknown[]) => state.apply('TrafficRule', 'ADDED', { metadata: meta(name), spec: { service, routes } } as never);
  const send = (host: string, headers: Record<string, string> = {}, opts: { method?: 'GET' | 'POST'; body?: string } = {}) => sendThrough(url, host, headers, { path: '/items', ...opts });
  const many = (n: number, host: string, headers: Record<string, string> = {}, concurrency = 16) => manyCalls(n, () => send(host, headers), concurrency);
  const share = (answers: Array<{ version: string | null }>, version: string) => answers.filter((a) => a.version === version).length / answers.length;
  /** Until the log datagrams of the requests sent have all arrived. */
  const spansOf = async (service: string, n: number) => {
    for (let i = 0; i < 200; i++) {
      const spans = plane.spans.spansOfTraces(plane.spans.traceIdsTouching('shop', service)).filter((s) => s.service === service);
      if (spans.length >= n) return spans;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`fewer than ${n} spans of ${service} arrived`);
  };
  let catalogV1: ShopProcess;
  let catalogV2: ShopProcess;

  beforeAll(async () => {
    if (!nginx) throw new Error('these tests run the real nginx data plane and no nginx binary was found: apt-get install nginx');
    dir = mkdtempSync(join(tmpdir(), 'mortise-mesh-nginx-'));
    plane = new NginxDataPlane({ state, dir, traceCapacity: 50_000, log: (m) => logs.push(m), traceSamplesPerSecond: 1_000_000 });
    url = await plane.listen(await freePort());
    const common = { MESH_URL: url, NAMESPACE: 'shop' };
    const inventory = await startShopService({ ...common, NAME: 'inventory' });
    catalogV1 = await startShopService({ ...common, NAME: 'catalog', VERSION: 'v1', CALLS: 'inventory/stock' });
    catalogV2 = await startShopService({ ...common, NAME: 'catalog', VERSION: 'v2', CALLS: 'inventory/stock' });
    const frontend = await startShopService({ ...common, NAME: 'frontend', CALLS: 'catalog/items' });
    procs.push(inventory, catalogV1, catalogV2, frontend);
    svc('inventory', [['v1', [inventory.url]]]);
    svc('catalog', [['v1', [catalogV1.url]], ['v2', [catalogV2.url]]]);
    svc('frontend', [['v1', [frontend.url]]]);
    await plane.synced();
  }, 60_000);

  afterAll(async () => {
    await plane?.close();
    await Promise.all(procs.map((p) => p.stop()));
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    if (process.env.MESH_NGINX_DEBUG) console.log(logs.join('\n'), readFileSync(join(dir, 'error.log'), 'utf8'));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('routes 90/10 by weight within ±3 % over 2,000 requests', async () => {
    rule('canary', 'catalog', [{ destinations: [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }] }]);
    await plane.synced();
    const answers = await many(2000, 'catalog.shop');
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(Math.abs(share(answers, 'v2') - 0.1)).toBeLessThanOrEqual(0.03);
    // The telemetry of the edge, from nginx's access log.
    const edges = (await plane.telemetry()).edgesIn('shop').filter((e) => e.service === 'catalog');
    expect(edges.map((e) => e.version).sort()).toEqual(['v1', 'v2']);
  }, 60_000);

  it('routes only requests whose header or cookie matches (PCRE regex, anchored)', async () => {
    rule('canary', 'catalog', [
      { match: [{ headers: { 'x-user': { regex: 'tester-[0-9]+' } } }, { cookies: { group: { exact: 'beta' } } }], destinations: [{ version: 'v2' }] },
      { destinations: [{ version: 'v1' }] },
    ]);
    await plane.synced();
    expect((await send('catalog.shop', { 'x-user': 'tester-42' })).version).toBe('v2');
    expect((await send('catalog.shop', { 'x-user': 'tester-42x' })).version).toBe('v1');
    expect((await send('catalog.shop', { cookie: 'a=1; group=beta' })).version).toBe('v2');
    expect((await send('catalog.shop', { cookie: 'group=betamax' })).version).toBe('v1');
    const plain = await many(50, 'catalog.shop');
    expect(share(plain, 'v1')).toBe(1);
  }, 30_000);

  it('retries a flaky endpoint\'s 503s into successes within the retry budget', async () => {
    const flaky = await startShopService({ NAME: 'flaky', FAIL_EVERY: '2' });
    procs.push(flaky);
    svc('flaky', [['v1', [flaky.url]]]);
    await plane.synced();
    const without = await many(20, 'flaky.shop', {}, 1);
    expect(without.filter((a) => a.status === 503).length).toBe(10);
    rule('flaky', 'flaky', [{ destinations: [{ version: 'v1' }], retries: { attempts: 2, perTryTimeoutMs: 2000, retryOn: ['5xx'] } }]);
    await plane.synced();
    await flaky.behave({ failEvery: 2 });
    const answers = await many(40, 'flaky.shop', {}, 1);
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    const spans = await spansOf('flaky', 60);
    // Every request's first try lands on a failing turn of the endpoint, its retry on a good one.
    expect(spans.filter((s) => s.attempts === 2 && s.events?.[0] === 'retry after 503').length).toBe(40);
  }, 30_000);

  it('injects aborts and delays into their share', async () => {
    rule('canary', 'catalog', [{ destinations: [{ version: 'v1' }], fault: { abort: { percent: 30, httpStatus: 418 } } }]);
    await plane.synced();
    const answers = await many(1000, 'catalog.shop');
    const aborted = answers.filter((a) => a.status === 418);
    expect(aborted.every((a) => a.fault === 'abort' && a.version === 'v1')).toBe(true);
    expect(Math.abs(aborted.length / 1000 - 0.3)).toBeLessThanOrEqual(0.05);
    expect(answers.filter((a) => a.status !== 418).every((a) => a.status === 200)).toBe(true);

    rule('canary', 'catalog', [{ destinations: [{ version: 'v2' }], fault: { delay: { percent: 50, fixedDelayMs: 300 } } }]);
    await plane.synced();
    const timed = await Promise.all(Array.from({ length: 200 }, async () => {
      const start = Date.now();
      const a = await send('catalog.shop');
      return { ...a, ms: Date.now() - start };
    }));
    const delayed = timed.filter((a) => a.fault === 'delay');
    expect(timed.every((a) => a.status === 200 && a.version === 'v2')).toBe(true);
    expect(Math.abs(delayed.length / 200 - 0.5)).toBeLessThanOrEqual(0.12);
    expect(delayed.every((a) => a.ms >= 290)).toBe(true);
    // A request with a body is delayed too, and reaches the endpoint whole.
    const posted = await Promise.all(Array.from({ length: 40 }, () => send('catalog.shop', {}, { method: 'POST', body: 'x' })));
    expect(posted.every((a) => a.status === 200)).toBe(true);
    expect(posted.filter((a) => a.fault === 'delay').length).toBeGreaterThan(5);
  }, 60_000);

  it('joins a trace across three services, naming each caller', async () => {
    rule('canary', 'catalog', [{ destinations: [{ version: 'v1' }] }]);
    await plane.synced();
    const traceId = 'ab'.repeat(16);
    const res = await send('frontend.shop', { traceparent: `00-${traceId}-${'cd'.repeat(8)}-01` });
    expect(res.status).toBe(200);
    let spans = plane.spans.spansOf(traceId);
    for (let i = 0; i < 100 && spans.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      spans = plane.spans.spansOf(traceId);
    }
    const tree = plane.spans.tree(traceId)!;
    expect(tree.roots.map((r) => [r.service, r.source, r.parentSpanId])).toEqual([['frontend', 'ingress', 'cd'.repeat(8)]]);
    const catalog = tree.roots[0]!.children;
    expect(catalog.map((c) => [c.service, c.version, c.source])).toEqual([['catalog', 'v1', 'frontend']]);
    expect(catalog[0]!.children.map((c) => [c.service, c.source])).toEqual([['inventory', 'catalog']]);
    // A request without a traceparent starts a trace.
    await send('inventory.shop', { 'x-mesh-source': 'trace-test' });
    let started;
    for (let i = 0; i < 100 && !started; i++) {
      started = (await spansOf('inventory', 1)).find((s) => !s.parentSpanId && s.source === 'trace-test');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(started?.traceId).toMatch(/^[0-9a-f]{32}$/);
  }, 30_000);

  it('mirrors a copy to another version, counted on its own edge', async () => {
    rule('canary', 'catalog', [{ destinations: [{ version: 'v1' }], mirror: { version: 'v2', percent: 100 } }]);
    await plane.synced();
    const before = (await plane.telemetry()).window((e) => e.service === 'catalog' && e.version === 'v2', 600).requests;
    const answers = await many(20, 'catalog.shop', { 'x-mesh-source': 'mirror-test' }, 4);
    expect(answers.map((a) => [a.status, a.version])).toEqual(Array(20).fill([200, 'v1']));
    for (let i = 0; i < 100; i++) {
      if ((await plane.telemetry()).window((e) => e.service === 'catalog' && e.version === 'v2', 600).requests - before >= 20) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await plane.telemetry()).window((e) => e.service === 'catalog' && e.version === 'v2' && e.source === 'mirror-test', 600).requests).toBe(20);
  }, 30_000);

  it('rolls an unhealthy canary back from the telemetry of nginx\'s log', async () => {
    const v1 = await startShopService({ NAME: 'reviews', VERSION: 'v1' });
    const v2 = await startShopService({ NAME: 'reviews', VERSION: 'v2', FAIL_RATE: '1' });
    procs.push(v1, v2);
    svc('reviews', [['v1', [v1.url]], ['v2', [v2.url]]]);
    const gr: GrayRelease = { metadata: { ...meta('reviews-v2'), generation: 1 }, spec: { service: 'reviews', stable: 'v1', canary: 'v2', strategy: 'canary', steps: [50], analysis: { maxErrorRate: 0.2, windowSeconds: 30, minRequests: 20 } } };
    state.apply('GrayRelease', 'ADDED', gr);
    await plane.synced();
    const answers = await many(200, 'reviews.shop');
    expect(Math.abs(share(answers, 'v2') - 0.5)).toBeLessThanOrEqual(0.12);
    expect(answers.filter((a) => a.version === 'v2').every((a) => a.status === 503)).toBe(true);
    // What the GrayRelease controller decides from the telemetry nginx's log gave.
    let next;
    for (let i = 0; i < 100 && next?.phase !== 'RolledBack'; i++) {
      const t = await plane.telemetry();
      next = desiredStatus(gr, (s) => t.window((e) => e.service === 'reviews' && e.version === 'v2', s));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(next?.phase).toBe('RolledBack');
    expect(next?.reason).toMatch(/^error rate 100.0% over 30 s/);
    state.apply('GrayRelease', 'MODIFIED', { ...gr, status: next });
    await plane.synced();
    const after = await many(100, 'reviews.shop');
    expect(after.map((a) => [a.status, a.version])).toEqual(Array(100).fill([200, 'v1']));
  }, 60_000);

  it('ejects an endpoint after consecutive 5xx and sends traffic to the others', async () => {
    const good = await startShopService({ NAME: 'pay', VERSION: 'v1' });
    const bad = await startShopService({ NAME: 'pay', VERSION: 'v1', FAIL_RATE: '1' });
    procs.push(good, bad);
    svc('pay', [['v1', [good.url, bad.url]]]);
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('pay'), spec: { service: 'pay', outlierDetection: { consecutive5xxErrors: 3, baseEjectionTimeMs: 60_000 } } });
    await plane.synced();
    const first = await many(20, 'pay.shop', {}, 1);
    // Ejected by nginx as the third failure is counted: no request after it reaches the endpoint.
    expect(first.filter((a) => a.status === 503).length).toBe(3);
    for (let i = 0; i < 200 && !(await plane.endpoints()).state('shop/pay/v1', bad.url).ejected; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await plane.endpoints()).state('shop/pay/v1', bad.url).ejected).toBe(true);
    await plane.synced();
    const after = await many(40, 'pay.shop', {}, 4);
    expect(after.map((a) => a.status)).toEqual(Array(40).fill(200));
  }, 30_000);

  // Per cluster, as Envoy's (and the Node plane's, dataplane.test.ts): one service's 5xx streak at
  // a shared address ejects it for that service only.
  it('ejects an endpoint for the service whose requests fail there, not for another sharing it', async () => {
    const shared = await pathFailingEndpoint('/fail');
    const spare = await pathFailingEndpoint('/never');
    servers.push(shared.server, spare.server);
    for (const name of ['east', 'west']) {
      svc(name, [['v1', [shared.url, spare.url]]]);
      state.apply('CircuitBreaker', 'ADDED', { metadata: meta(name), spec: { service: name, outlierDetection: { consecutive5xxErrors: 2, baseEjectionTimeMs: 60_000 } } });
    }
    await plane.synced();
    const call = async (host: string, path: string) => {
      const res = await request(`${url}${path}`, { headers: { host } });
      await res.body.text();
      return res.statusCode;
    };
    const east = [];
    for (let i = 0; i < 10; i++) east.push(await call('east.shop', '/fail'));
    // Ejected for east as its second failure there is counted: the rest went to the spare.
    expect(east.filter((s) => s === 500)).toHaveLength(2);
    expect(shared.hits('east.shop')).toBe(2);
    const endpoints = await plane.endpoints();
    expect(endpoints.state('shop/east/v1', shared.url).ejected).toBe(true);
    expect(endpoints.state('shop/west/v1', shared.url)).toMatchObject({ ejected: false, consecutive5xx: 0, ejections: 0 });
    // west still takes its turns at the shared endpoint, where its requests succeed.
    const west = [];
    for (let i = 0; i < 10; i++) west.push(await call('west.shop', '/'));
    expect(west).toEqual(Array(10).fill(200));
    expect(shared.hits('west.shop')).toBe(5);
    expect((await plane.endpoints()).state('shop/east/v1', shared.url).ejected).toBe(true);
  }, 30_000);

  it('applies a rule change without dropping requests in flight', async () => {
    const slow = createServer((_req, res) => setTimeout(() => res.end('slow'), 700));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    servers.push(slow);
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    svc('slow', [['v1', [slowUrl]], ['v2', [slowUrl]]]);
    await plane.synced();
    const inFlight = Array.from({ length: 30 }, () => send('slow.shop'));
    await new Promise((r) => setTimeout(r, 200));
    rule('slow', 'slow', [{ destinations: [{ version: 'v2' }] }]);
    await plane.synced();
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => [a.status, a.version, a.body])).toEqual(Array(30).fill([200, 'v1', 'slow']));
    expect((await send('slow.shop')).version).toBe('v2');
  }, 30_000);

  it('changes rules under load with no connection reset on kept-alive client connections (GETs and POSTs back to back)', async () => {
    const answer = (v: string) => createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(v));
    });
    const backends = [answer('v1'), answer('v2')];
    for (const b of backends) {
      await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
      servers.push(b);
    }
    const at = (b: Server) => `http://127.0.0.1:${(b.address() as AddressInfo).port}`;
    svc('ka', [['v1', [at(backends[0]!)]], ['v2', [at(backends[1]!)]]]);
    await plane.synced();
    const pushesBefore = plane.pushes;
    const { port } = new URL(url);
    let stop = false;
    const failures: string[] = [];
    // A raw HTTP/1.1 client: one connection, each request sent the moment the previous answer ends.
    const client = (id: number) => new Promise<{ answers: number; bodies: Set<string> }>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      let buffer = Buffer.alloc(0);
      let answers = 0;
      const bodies = new Set<string>();
      const sendNext = () => {
        if (stop) return socket.end();
        const post = (answers + id) % 2 === 0;
        const body = `payload ${answers}`;
        socket.write(post
          ? `POST /items HTTP/1.1\r\nHost: ka.shop\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`
          : 'GET /items HTTP/1.1\r\nHost: ka.shop\r\n\r\n');
      };
      socket.on('connect', sendNext);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffer.toString('latin1', 0, end);
          const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
          if (!Number.isFinite(length)) {
            failures.push(`connection ${id}: an answer without content-length: ${head}`);
            return socket.destroy();
          }
          if (buffer.length < end + 4 + length) return;
          const status = head.slice(9, 12);
          const text = buffer.toString('utf8', end + 4, end + 4 + length);
          buffer = buffer.subarray(end + 4 + length);
          if (status !== '200') failures.push(`connection ${id}: ${status} ${text}`);
          bodies.add(text);
          answers++;
          sendNext();
        }
      });
      socket.on('error', (e) => failures.push(`connection ${id}: ${e.message}`));
      socket.on('close', () => {
        if (!stop) failures.push(`connection ${id} closed by the data plane after ${answers} answers`);
        resolve({ answers, bodies });
      });
    });
    const clients = Array.from({ length: 8 }, (_, i) => client(i));
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 30));
      rule('ka', 'ka', [{ destinations: [{ version: i % 2 === 0 ? 'v2' : 'v1' }] }]);
      await plane.synced();
    }
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    const done = await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(plane.pushes - pushesBefore).toBeGreaterThanOrEqual(30);
    // Every connection saw both versions: the changes reached kept-alive connections.
    expect(done.every((c) => c.answers > 20 && c.bodies.has('v1') && c.bodies.has('v2'))).toBe(true);
  }, 60_000);

  it('respects the caller\'s sampled flag: an unsampled trace records no span on any hop', async () => {
    rule('canary', 'catalog', [{ destinations: [{ version: 'v1' }] }]);
    await plane.synced();
    const unsampled = 'ef'.repeat(16);
    const sampled = '12'.repeat(16);
    expect((await send('frontend.shop', { traceparent: `00-${unsampled}-${'cd'.repeat(8)}-00` })).status).toBe(200);
    expect((await send('frontend.shop', { traceparent: `00-${sampled}-${'cd'.repeat(8)}-01` })).status).toBe(200);
    for (let i = 0; i < 100 && plane.spans.spansOf(sampled).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(plane.spans.spansOf(sampled).map((s) => s.service).sort()).toEqual(['catalog', 'frontend', 'inventory']);
    // The hops after the first were given the flag on (else they would have started recording).
    expect(plane.spans.spansOf(unsampled)).toEqual([]);
  }, 30_000);

  it('samples the traces it starts at traceSamplesPerSecond, and counts every request in the telemetry', async () => {
    // A second plane with the rate low enough to see (the default is 100 a second).
    const state2 = new MeshState();
    const dir2 = mkdtempSync(join(tmpdir(), 'mortise-mesh-nginx-'));
    const plane2 = new NginxDataPlane({ state: state2, dir: dir2, traceCapacity: 1000, log: (m) => logs.push(m), traceSamplesPerSecond: 5, workerProcesses: 2 });
    try {
      const url2 = await plane2.listen(await freePort());
      state2.apply('MeshService', 'ADDED', { metadata: meta('inventory'), spec: { versions: [{ name: 'v1', endpoints: [procs[0]!.url] }] } });
      await plane2.synced();
      const started = Date.now();
      const answers = await manyCalls(200, () => sendThrough(url2, 'inventory.shop', { 'x-mesh-source': 'sampling-test' }, { path: '/stock' }), 8);
      const seconds = (Date.now() - started) / 1000;
      expect(answers.every((a) => a.status === 200)).toBe(true);
      await expect.poll(async () => (await plane2.telemetry()).window((e) => e.source === 'sampling-test', 600).requests, { timeout: 5000 }).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      const spans = (await plane2.traces()).list({ service: 'inventory', limit: 1000 }).length;
      // The bucket starts full (5) and refills at 5 a second, shared by the 2 workers.
      expect(spans).toBeGreaterThanOrEqual(2);
      expect(spans).toBeLessThanOrEqual(5 + Math.ceil(5 * seconds) + 2);
    } finally {
      await plane2.close();
      rmSync(dir2, { recursive: true, force: true });
    }
  }, 30_000);

  it('refuses requests beyond a CircuitBreaker\'s maxRequests with 503 and x-mesh-overflow, and counts them back', async () => {
    const slow = createServer((_req, res) => setTimeout(() => res.end('slow'), 400));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    servers.push(slow);
    svc('limited', [['v1', [`http://127.0.0.1:${(slow.address() as AddressInfo).port}`]]]);
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('limited'), spec: { service: 'limited', connectionPool: { maxRequests: 2 } } });
    await plane.synced();
    const burst = async () => Promise.all(Array.from({ length: 6 }, async () => {
      const res = await request(`${url}/`, { headers: { host: 'limited.shop' } });
      await res.body.text();
      return [res.statusCode, res.headers['x-mesh-overflow'] ?? null];
    }));
    const first = await burst();
    expect(first.filter(([s]) => s === 200)).toHaveLength(2);
    expect(first.filter(([s, o]) => s === 503 && o === '1')).toHaveLength(4);
    // The reason, as the Node plane gives it (dataplane.test.ts).
    const refused = await Promise.all(Array.from({ length: 3 }, async () => {
      const res = await request(`${url}/`, { headers: { host: 'limited.shop' } });
      return res.body.text();
    }));
    expect(refused.some((t) => /^limited\.shop: more than 2 requests in flight \(CircuitBreaker\)/.test(t))).toBe(true);
    // The requests that ended gave their places back.
    expect((await burst()).filter(([s]) => s === 200)).toHaveLength(2);
  }, 30_000);

  it('keeps to a CircuitBreaker\'s maxConnections per endpoint: more requests wait for a place, as the Node plane\'s pool queues them', async () => {
    const counting = await countingEndpoint(150);
    servers.push(counting.server);
    svc('pooled', [['v1', [counting.url]]]);
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('pooled'), spec: { service: 'pooled', connectionPool: { maxConnections: 2 } } });
    await plane.synced();
    const statuses = await Promise.all(Array.from({ length: 8 }, async () => {
      const res = await request(`${url}/`, { headers: { host: 'pooled.shop' } });
      await res.body.text();
      return res.statusCode;
    }));
    expect(statuses).toEqual(Array(8).fill(200));
    expect(counting.peak()).toBe(2);
    // Without the limit all 8 reach the endpoint at once: the limit was what held them.
    state.apply('CircuitBreaker', 'DELETED', { metadata: meta('pooled'), spec: { service: 'pooled' } });
    await plane.synced();
    counting.reset();
    await Promise.all(Array.from({ length: 8 }, async () => (await request(`${url}/`, { headers: { host: 'pooled.shop' } })).body.text()));
    expect(counting.peak()).toBe(8);
  }, 30_000);

  // Envoy's http1MaxPendingRequests, as the Node plane (dataplane.test.ts).
  it('refuses a request that would wait for a connection while maxPendingRequests already wait, with 503 and x-mesh-overflow', async () => {
    const slow = await countingEndpoint(400);
    servers.push(slow.server);
    svc('queued', [['v1', [slow.url]]]);
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('queued'), spec: { service: 'queued', connectionPool: { maxConnections: 1, maxPendingRequests: 2 } } });
    await plane.synced();
    const burst = () => Promise.all(Array.from({ length: 6 }, async () => {
      const res = await request(`${url}/`, { headers: { host: 'queued.shop' } });
      return [res.statusCode, res.headers['x-mesh-overflow'] ?? null, await res.body.text()] as const;
    }));
    const first = await burst();
    expect(first.filter(([s]) => s === 200)).toHaveLength(3);
    const refused = first.filter(([s, o]) => s === 503 && o === '1');
    expect(refused).toHaveLength(3);
    expect(refused[0]![2]).toMatch(/^queued\.shop: more than 2 requests waiting for a connection to version v1 \(CircuitBreaker\)/);
    expect(slow.peak()).toBe(1);
    // The waiting room is given back: the same again.
    expect((await burst()).filter(([s]) => s === 200)).toHaveLength(3);
    // Counted as the other overflows are: 503s of the edge.
    await expect.poll(async () => (await plane.telemetry()).window((e) => e.service === 'queued', 600).errors, { timeout: 5000 }).toBe(6);
  }, 30_000);

  // Envoy's limits are per cluster (a service's version): two services sharing an endpoint each have its places.
  it('keeps maxConnections per service and version, not per endpoint address', async () => {
    let now = 0;
    let peak = 0;
    const listen = async (name: string) => {
      const server = createServer((_req, res) => {
        if (name === 'a') peak = Math.max(peak, ++now);
        setTimeout(() => {
          if (name === 'a') now--;
          res.end(name);
        }, 400);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.push(server);
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    const a = await listen('a');
    const b = await listen('b');
    svc('left', [['v1', [a]]]);
    svc('right', [['v1', [a, b]], ['v2', [a]]]);
    rule('right', 'right', [{ match: [{ headers: { 'x-v': { exact: '2' } } }], destinations: [{ version: 'v2' }] }, { destinations: [{ version: 'v1' }] }]);
    for (const name of ['left', 'right']) state.apply('CircuitBreaker', 'ADDED', { metadata: meta(name), spec: { service: name, connectionPool: { maxConnections: 1 } } });
    await plane.synced();
    const call = async (host: string, headers: Record<string, string> = {}) => {
      const res = await request(`${url}/`, { headers: { ...headers, host } });
      return [res.statusCode, await res.body.text()];
    };
    const started = Date.now();
    const left = call('left.shop');
    await expect.poll(() => peak, { timeout: 5000, interval: 5 }).toBe(1);
    // left's request holds its place at a; right's places at a are its own: its first request
    // (round robin from a) and its v2's go there at once, none waiting, none steered away.
    const right = await Promise.all([call('right.shop'), call('right.shop', { 'x-v': '2' })]);
    expect([await left, ...right]).toEqual([[200, 'a'], [200, 'a'], [200, 'a']]);
    expect(peak).toBe(3);
    expect(Date.now() - started).toBeLessThan(1000);
  }, 30_000);

  // Envoy's shadow goes through the mirror cluster and its breakers (as dataplane.test.ts): a copy
  // beyond maxConnections is dropped, a 503 of the mirror's edge, its primary untouched.
  it('keeps mirrored copies to the mirror version\'s maxConnections, dropping the rest without touching their primaries', async () => {
    // v1's primaries are limited too (2 at once of the 4): a primary's places are its own until its
    // answer ends, however long its copy runs.
    const primary = await countingEndpoint(0);
    const shadow = await countingEndpoint(1000);
    servers.push(primary.server, shadow.server);
    svc('mirrored', [['v1', [primary.url]], ['v2', [shadow.url]]]);
    rule('mirrored', 'mirrored', [{ destinations: [{ version: 'v1' }], mirror: { version: 'v2', percent: 100 } }]);
    state.apply('CircuitBreaker', 'ADDED', { metadata: meta('mirrored'), spec: { service: 'mirrored', connectionPool: { maxConnections: 2 } } });
    await plane.synced();
    const answers = await Promise.all(Array.from({ length: 4 }, async () => {
      const res = await request(`${url}/`, { headers: { host: 'mirrored.shop' } });
      return [res.statusCode, res.headers['x-mesh-version'], await res.body.text()];
    }));
    expect(answers).toEqual(Array(4).fill([200, 'v1', 'ok']));
    const copies = async () => (await plane.telemetry()).window((e) => e.service === 'mirrored' && e.version === 'v2', 600);
    await expect.poll(async () => (await copies()).requests, { timeout: 5000 }).toBe(4);
    // Two copies had a place, two were dropped (none waited for one).
    expect((await copies()).errors).toBe(2);
    expect(shadow.peak()).toBe(2);
    // The places were given back: two copies of the next burst reach the endpoint again.
    shadow.reset();
    await Promise.all(Array.from({ length: 4 }, async () => (await request(`${url}/`, { headers: { host: 'mirrored.shop' } })).body.text()));
    await expect.poll(async () => (await copies()).requests, { timeout: 5000 }).toBe(8);
    expect((await copies()).errors).toBe(4);
    expect(shadow.peak()).toBe(2);
    // The primaries' time is their own: not their copies' second (telemetry and spans).
    expect((await plane.telemetry()).window((e) => e.service === 'mirrored' && e.version === 'v1', 600).p99Ms).toBeLessThan(500);
    const spans = await spansOf('mirrored', 8);
    expect(spans.map((sp) => sp.durationMs).filter((ms) => ms >= 500)).toEqual([]);
  }, 30_000);

  it('sends the caller\'s Host on, and a mirrored copy with "-shadow" appended (as Envoy), no X-Forwarded-Host', async () => {
    const seen: Array<[string, string | undefined, string | undefined]> = [];
    const recorder = async (name: string) => {
      const s = createServer((req, res) => {
        seen.push([name, req.headers.host, req.headers['x-forwarded-host'] as string | undefined]);
        res.end('ok');
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    };
    svc('hosts', [['v1', [await recorder('v1')]], ['v2', [await recorder('v2')]]]);
    rule('hosts', 'hosts', [{ destinations: [{ version: 'v1' }], mirror: { version: 'v2', percent: 100 } }]);
    await plane.synced();
    const res = await request(`${url}/`, { headers: { host: 'Hosts.Shop:8080' } });
    expect([res.statusCode, await res.body.text()]).toEqual([200, 'ok']);
    await expect.poll(() => seen.length, { timeout: 5000 }).toBe(2);
    expect(seen.sort()).toEqual([['v1', 'hosts.shop', undefined], ['v2', 'hosts.shop-shadow', undefined]]);
  });

  // Envoy passes an endpoint's answer on as it is; nginx, by default, takes X-Accel-Redirect in it
  // as an internal redirect of the caller's request (to any location: the mirror's, a retry
  // policy's) and X-Accel-Limit-Rate and the rest as orders. The plane ignores them.
  it('passes on an endpoint\'s answer whatever X-Accel-* headers it carries, acting on none', async () => {
    let hits = 0;
    const s = createServer((req, res) => {
      hits++;
      const to = new URL(req.url!, 'http://x').searchParams.get('to')!;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-accel-redirect': to, 'x-accel-limit-rate': '1', 'x-accel-buffering': 'yes', 'x-accel-expires': '60' }).end('the endpoint\'s own answer');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    svc('accel', [['v1', [`http://127.0.0.1:${(s.address() as AddressInfo).port}`]]]);
    await plane.synced();
    for (const to of ['/.mesh/mirror', '/.mesh/variables', '@t', '/elsewhere']) {
      const before = hits;
      const res = await within(request(`${url}/items?to=${encodeURIComponent(to)}`, { headers: { host: 'accel.shop' } }), 5000, `an answer for ${to}`);
      expect([res.statusCode, await res.body.text()], to).toEqual([200, 'the endpoint\'s own answer']);
      expect(hits - before, to).toBe(1);
    }
  });

  /** An endpoint that records what `record` takes of each request it is sent (its URL returned). */
  const recording = async (record: (req: import('node:http').IncomingMessage) => void) => {
    const s = createServer((req, res) => {
      record(req);
      res.end('ok');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };

  it('sends each try to the endpoint the balancer picked, and to the new endpoints once they change', async () => {
    // The balancer has nginx parse an address once and then writes what it made (mesh.lua's set_peer).
    const hits = new Map<string, number>();
    const urls = await Promise.all(['a', 'b', 'c', 'd'].map((name) => recording(() => hits.set(name, (hits.get(name) ?? 0) + 1))));
    const [a, b, c, d] = urls as [string, string, string, string];
    svc('spread', [['v1', [a, b, c]]]);
    await plane.synced();
    for (let i = 0; i < 30; i++) expect((await send('spread.shop', { traceparent: `00-${'5e'.repeat(16)}-${'cd'.repeat(8)}-01` })).status).toBe(200);
    expect([...hits].sort()).toEqual([['a', 10], ['b', 10], ['c', 10]]);
    // The spans name the endpoint each request went to ($upstream_addr).
    const spans = (await spansOf('spread', 30)).filter((s) => s.traceId === '5e'.repeat(16));
    expect(new Set(spans.map((s) => s.endpoint))).toEqual(new Set([a, b, c]));
    hits.clear();
    svc('spread', [['v1', [c, d]]]);
    await plane.synced();
    for (let i = 0; i < 20; i++) expect((await send('spread.shop')).status).toBe(200);
    expect([...hits].sort()).toEqual([['c', 10], ['d', 10]]);
    expect(readFileSync(join(dir, 'error.log'), 'utf8')).not.toMatch(/not laid out as expected/);
  });

  it('sends an answer that came whole in one write, and passes a streamed one on as it comes', async () => {
    // Answers of unknown length (chunked), proxied buffered. Unbuffered, nginx would write one
    // that came whole in two: its header with the body, then the terminating chunk.
    const waiting: Array<() => void> = [];
    const s = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      if (req.url === '/whole') return void res.end('whole answer');
      if (req.url === '/empty') return void res.end();
      if (req.url === '/chunks') {
        res.write('one, ');
        return void res.end('two');
      }
      // A first write whose chunk ends as a terminator would: "6\r\na\r\n0\r\n\r\n".
      res.write(req.url === '/lookalike' ? 'a\r\n0\r\n' : 'first');
      waiting.push(() => res.end('rest'));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    svc('chunked', [['v1', [`http://127.0.0.1:${(s.address() as AddressInfo).port}`]]]);
    await plane.synced();
    // The write calls of nginx's workers (/proc/<pid>/io counts writev too).
    const master = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8').trim());
    const workers = childPids(master);
    const writes = () => workers.reduce((n, pid) => n + Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]), 0);
    const writesPerAnswer = async (path: string, body: string) => {
      expect(await sendThrough(url, 'chunked.shop', {}, { path })).toMatchObject({ status: 200, body });
      const before = writes();
      for (let i = 0; i < 40; i++) expect((await sendThrough(url, 'chunked.shop', {}, { path })).body).toBe(body);
      return (writes() - before) / 40;
    };
    // One write to the endpoint and one to the caller (a few more for the spans' log, every 100 ms).
    expect(await writesPerAnswer('/whole', 'whole answer')).toBeLessThan(2.4);
    expect(await writesPerAnswer('/empty', '')).toBeLessThan(2.4);
    expect(await writesPerAnswer('/chunks', 'one, two')).toBeLessThan(2.4);
    // A stream's first write reaches the caller before the rest is written, also one that looks
    // like a whole answer at its end.
    for (const path of ['/stream', '/lookalike']) {
      const res = await request(`${url}${path}`, { headers: { host: 'chunked.shop' } });
      const chunks = res.body[Symbol.asyncIterator]();
      const first = await within(chunks.next(), 5000, `${path}: its first write was held back`);
      expect(String(first.value)).toBe(path === '/lookalike' ? 'a\r\n0\r\n' : 'first');
      waiting.shift()!();
      let rest = '';
      for (let c = await chunks.next(); !c.done; c = await chunks.next()) rest += String(c.value);
      expect(rest).toBe('rest');
    }
    // That count sees the difference: an answer streamed, by three writes.
    const streamed = writesPerAnswer('/stream', 'firstrest');
    const release = setInterval(() => waiting.shift()?.(), 1);
    try {
      expect(await streamed).toBeGreaterThanOrEqual(2.9);
    } finally {
      clearInterval(release);
    }
  });

  it('holds a slow caller\'s answer in memory only, and stops the endpoint\'s answer when its caller goes away', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'mesh ');
    let stopped: () => void = () => {};
    const closed = new Promise<void>((r) => (stopped = r));
    const s = createServer((req, res) => {
      if (req.url === '/big') return void res.end(big);
      // An endless stream: a line every 20 ms until the plane closes it.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const tick = setInterval(() => res.write('data: tick\n\n'), 20);
      res.on('close', () => {
        clearInterval(tick);
        stopped();
      });
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    svc('paced', [['v1', [`http://127.0.0.1:${(s.address() as AddressInfo).port}`]]]);
    await plane.synced();
    // A caller that takes nothing for a second: nginx stops reading at its buffers, no temp file.
    const res = await request(`${url}/big`, { headers: { host: 'paced.shop' } });
    await new Promise((r) => setTimeout(r, 1000));
    const got = Buffer.from(await res.body.arrayBuffer());
    expect([res.statusCode, got.length]).toEqual([200, big.length]);
    expect(got.equals(big)).toBe(true);
    expect(readFileSync(join(dir, 'error.log'), 'utf8')).not.toMatch(/temporary file/);
    // A caller that goes away mid-stream: the endpoint's answer is closed.
    const ac = new AbortController();
    const stream = await request(`${url}/events`, { headers: { host: 'paced.shop' }, signal: ac.signal });
    const first = await stream.body[Symbol.asyncIterator]().next();
    expect(String(first.value)).toContain('data: tick');
    ac.abort();
    await within(closed, 5000, 'the endpoint\'s answer was not closed');
  });

  it('continues a well-formed traceparent and starts a trace for a malformed one', async () => {
    const got: string[] = [];
    svc('traced', [['v1', [await recording((req) => got.push(String(req.headers.traceparent)))]]]);
    await plane.synced();
    const trace = 'ab'.repeat(16);
    const span = 'cd'.repeat(8);
    const outgoing = async (traceparent: string) => {
      got.length = 0;
      expect((await send('traced.shop', { traceparent })).status).toBe(200);
      expect(got[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      return got[0]!;
    };
    for (const tp of [`00-${trace}-${span}-01`, `00-${trace}-${span}-00`, `01-${trace}-${span}-09`, `00-${'0'.repeat(31)}1-${'0'.repeat(15)}1-01`]) {
      expect((await outgoing(tp)).slice(3, 35), tp).toBe(tp.slice(3, 35));
    }
    expect((await outgoing(`00-${trace}-${span}-01`)).slice(53)).toBe('01');
    expect((await outgoing(`00-${trace}-${span}-00`)).slice(53)).toBe('00');
    const malformed = [
      `ff-${trace}-${span}-01`, `00-${'0'.repeat(32)}-${span}-01`, `00-${trace}-${'0'.repeat(16)}-01`,
      `00-${trace.toUpperCase()}-${span}-01`, `00-${trace.slice(0, 31)}g-${span}-01`, `00-${trace}-${span}-0x`, `0g-${trace}-${span}-01`,
      `00_${trace}-${span}-01`, `00-${trace}_${span}-01`, `00-${trace}-${span}_01`, `00-${trace}-${span}-01-`, `00-${trace}-${span}-1`, `00-${trace}0-${span.slice(1)}-01`,
    ];
    for (const tp of malformed) expect((await outgoing(tp)).slice(3, 35), tp).not.toBe(tp.slice(3, 35));
  });

  it('adds x-mesh-fault to the requests a fault is injected into only, nginx\'s own error answers included', async () => {
    const up = await recording(() => {});
    const down = `http://127.0.0.1:${await freePort()}`;
    svc('faulty', [['v1', [up]], ['v2', [down]]]);
    const to = (value: string) => [{ headers: { 'x-to': { exact: value } } }];
    rule('faulty', 'faulty', [
      // Routes with retries: each jumps to its policy's location after the access phase.
      { match: to('down'), destinations: [{ version: 'v2' }], retries: { attempts: 1 }, fault: { delay: { percent: 100, fixedDelayMs: 5 } } },
      { match: to('slow'), destinations: [{ version: 'v1' }], retries: { attempts: 1 }, fault: { delay: { percent: 100, fixedDelayMs: 5 } } },
      { match: to('abort'), destinations: [{ version: 'v1' }], fault: { abort: { percent: 100, httpStatus: 503 } } },
      { destinations: [{ version: 'v1' }], retries: { attempts: 1 } },
    ]);
    await plane.synced();
    expect(await send('faulty.shop', { 'x-to': 'down' })).toMatchObject({ status: 502, fault: 'delay' });
    expect(await send('faulty.shop', { 'x-to': 'slow' })).toMatchObject({ status: 200, fault: 'delay', version: 'v1' });
    expect(await send('faulty.shop', { 'x-to': 'abort' })).toMatchObject({ status: 503, fault: 'abort', version: 'v1' });
    expect(await send('faulty.shop')).toMatchObject({ status: 200, fault: null, version: 'v1' });
    state.apply('TrafficRule', 'DELETED', { metadata: meta('faulty'), spec: { service: 'faulty', routes: [] } });
  });

  it('keeps a service\'s last good rules when nginx cannot express the new ones, the others unaffected', async () => {
    rule('canary', 'catalog', [{ match: [{ headers: { 'x-user': { exact: 'eve' } } }], destinations: [{ version: 'v2' }] }, { destinations: [{ version: 'v1' }] }]);
    await plane.synced();
    expect(await send('catalog.shop', { 'x-user': 'eve' })).toMatchObject({ status: 200, version: 'v2' });
    // JavaScript reads \u0061 as "a"; PCRE refuses \u: nginx refuses the push, the service keeps its rules.
    rule('canary', 'catalog', [{ match: [{ headers: { 'x-user': { regex: '\\u0061' } } }], destinations: [{ version: 'v1' }] }]);
    rule('inventory', 'inventory', [{ destinations: [{ version: 'v1' }], fault: { abort: { percent: 100, httpStatus: 599 } } }]);
    await plane.synced();
    expect(plane.problems.get('catalog.shop')).toMatch(/PCRE|\\u/);
    expect((await send('catalog.shop', { 'x-user': 'eve' })).version).toBe('v2');
    // The other service's change took effect in the same push.
    expect((await send('inventory.shop')).status).toBe(599);
    // A header name nginx cannot read: refused before nginx is asked.
    rule('canary', 'catalog', [{ match: [{ headers: { 'x user': { exact: 'a' } } }], destinations: [{ version: 'v1' }] }]);
    await plane.synced();
    expect(plane.problems.get('catalog.shop')).toMatch(/header "x user"/);
    expect((await send('catalog.shop', { 'x-user': 'eve' })).version).toBe('v2');
    // Quotes and backslashes in a value are written so that nginx reads them back as they were.
    rule('canary', 'catalog', [{ match: [{ headers: { 'x-user': { exact: 'a"b\\c;{}$x' } } }], destinations: [{ version: 'v2' }] }, { destinations: [{ version: 'v1' }] }]);
    await plane.synced();
    expect(plane.problems.has('catalog.shop')).toBe(false);
    expect((await send('catalog.shop', { 'x-user': 'a"b\\c;{}$x' })).version).toBe('v2');
    expect((await send('catalog.shop', { 'x-user': 'a"b\\c;{}' })).version).toBe('v1');
    // Unknown hosts and the plane's own address.
    expect((await send('nowhere.shop')).status).toBe(404);
    expect((await request(`${url}/healthz`)).statusCode).toBe(200);
    state.apply('TrafficRule', 'DELETED', { metadata: meta('inventory'), spec: { service: 'inventory', routes: [] } });
  }, 30_000);
});
