import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../src/config.js';
import { edgeNginxConfig } from '../src/edge/edge-nginx-config.js';
import { defaultEdgeWorkers, NativeEdge } from '../src/edge/native-edge.js';
import { childPids } from '@mortise/extension-sdk/util';
import { proxyAccessTemplate } from '../src/gateway/proxy-access.js';
import { createLogger } from '../src/ops/logger.js';
import { freePort } from './support/child-core.js';
import { adminPassword, call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// What the gateway suite (gateway.test.ts, run through the edge too) does not show: that the
// edge answers from the core's decisions without asking again, and forgets them before the
// write that changes them is acknowledged — with no `eventually` below where that is claimed.

const iam = '/apis/iam.mortise.io/v1alpha1';
const ext = '/apis/extensions.mortise.io/v1alpha1';

describe('the native edge (nginx in front of the core, MORTISE_EDGE_LISTEN)', () => {
  let t: TestCore;
  let backend: Server;
  let backendHits = 0;
  let edge = '';

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await t.api('/metrics')).text();
    return Number(pattern.exec(text)?.[1] ?? 0);
  };
  const decisions = () => metric(/^mortise_edge_decisions_total\{answer="edge"\} (\d+)/m);
  const edgeRequests = () => metric(/^mortise_edge_requests_total\{route="gateway\/reverseproxy\/demo",method="GET",code="200"\} (\d+)/m);
  const password = (user: string) => fetch(`${t.url}/oauth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'password', username: user, password: `${user}-password-1` }),
  }).then((r) => r.json() as Promise<{ access_token: string; refresh_token: string }>);

  /** A ReverseProxy `/proxy/<name>/` to `server`, and every user's access to it: the upstream URL. */
  const addProxy = async (name: string, server: Server): Promise<string> => {
    const upstream = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await t.api(`${ext}/reverseproxies`, {
      method: 'POST',
      json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name, labels: { 'extensions.mortise.io/extension': name } }, spec: { matcher: { path: `/proxy/${name}/` }, upstream: { url: upstream }, directives: { stripPathPrefix: `/proxy/${name}` } } },
    })).status).toBe(201);
    expect((await t.api(`${iam}/roletemplates`, { method: 'POST', json: proxyAccessTemplate(name, [`/proxy/${name}/`]) })).status).toBe(201);
    return upstream;
  };

  beforeAll(async () => {
    backend = createServer((req, res) => {
      backendHits++;
      if (req.url?.startsWith('/accel')) {
        // What nginx would act on in an upstream's answer by default (proxy_ignore_headers).
        const to = new URL(req.url, 'http://x').searchParams.get('to')!;
        res.writeHead(200, { 'content-type': 'text/plain', 'x-accel-redirect': to, 'x-accel-limit-rate': '1', 'x-accel-buffering': 'yes', 'x-accel-expires': '60' }).end('the backend\'s own answer');
        return;
      }
      if (req.url?.startsWith('/refuse')) {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"refused":true}');
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, identity: req.headers['x-mortise-identity'] ?? null, headers: req.headers }));
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    // One nginx worker: the counts below (decisions, requests) are exact only with one.
    t = await startTestCore({ inMemory: true, accessTokenTtlSeconds: 600, edge: { listen: String(await freePort()), workers: 1 } });
    edge = t.core.edgeUrl!;
    await addProxy('demo', backend);
    for (const user of ['alice', 'carol']) {
      expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: user }, spec: { email: `${user}@example.com`, password: `${user}-password-1` } } })).status).toBe(201);
    }
  });

  afterAll(async () => {
    await t?.close();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
  });

  it('answers repeated requests itself: one decision for many requests', async () => {
    const token = await login(t.url, 'alice', 'alice-password-1');
    const first = await call(edge, token, '/proxy/demo/hello?n=1');
    expect(first.status).toBe(200);
    expect(((await first.json()) as { url: string }).url).toBe('/hello?n=1');
    const [decided, served, hits] = [await decisions(), await edgeRequests(), backendHits];
    for (let i = 0; i < 50; i++) expect((await call(edge, token, '/proxy/demo/hello?n=1')).status).toBe(200);
    expect(await decisions()).toBe(decided);
    expect(backendHits - hits).toBe(50);
    expect(await edgeRequests()).toBe(served + 50);
    // Another URI is another request: decided once more.
    expect((await call(edge, token, '/proxy/demo/hello?n=2')).status).toBe(200);
    expect(await decisions()).toBe(decided + 1);
  });

  it('asks the core once for many requests that miss the same decision at the same time', async () => {
    const token = await login(t.url, 'alice', 'alice-password-1');
    const before = await decisions();
    const answers = await Promise.all(Array.from({ length: 30 }, () => call(edge, token, '/proxy/demo/together')));
    expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(await decisions()).toBe(before + 1);
  });

  it('drops what a client must not pass on, and leaves to the core what it cannot vet', async () => {
    const token = await login(t.url, 'alice', 'alice-password-1');
    // node:http, which sends a header given as an array once per value.
    const send = (headers: Record<string, string | string[]>) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${edge}/proxy/demo/vetted`);
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    const claims = {
      'keep-alive': 'timeout=5', te: 'trailers', 'proxy-connection': 'keep-alive', 'x-auth-request-user': 'admin',
      'x-real-ip': '10.6.6.6', forwarded: 'for=10.6.6.6', 'x-remote-extra-scope': 'all', 'x-mortise-edge-secret': 'guess',
      x_remote_user: 'admin',
    };
    // Sent twice: the second time the edge has remembered what each name is (mortise_edge.lua's dropped()), and still drops them.
    await send({ authorization: `Bearer ${token}`, ...claims, 'x-keep-me': 'kept' });
    const [decided, served] = [await decisions(), await edgeRequests()];
    const seen = await send({ authorization: `Bearer ${token}`, ...claims, 'x-keep-me': 'kept' });
    expect(seen.status).toBe(200);
    expect(await decisions()).toBe(decided);
    expect(await edgeRequests()).toBe(served + 1);
    const headers = (JSON.parse(seen.body) as { headers: Record<string, string> }).headers;
    for (const name of Object.keys(claims)) expect(headers[name], name).toBeUndefined();
    expect(headers['x-keep-me']).toBe('kept');
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    // Two credentials, a stream, a body, an upgrade: the core has the rules for these.
    for (const odd of [
      { authorization: [`Bearer ${token}`, 'Bearer other'] },
      { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      { authorization: `Bearer ${token}`, 'content-length': '2' },
      { authorization: `Bearer ${token}`, connection: 'upgrade', upgrade: 'websocket' },
      { authorization: `Bearer ${token}`, connection: 'x-keep-me', 'x-keep-me': 'kept' },
    ] as Record<string, string | string[]>[]) {
      await send(odd).catch(() => undefined);
      expect(await edgeRequests(), JSON.stringify(odd)).toBe(served + 1);
    }
  });

  // Security: nginx acts on X-Accel-Redirect in an upstream's answer by default, an internal
  // redirect of the client's request to any location, internal ones included. A backend could
  // then have its caller's request (with the caller's credentials) sent to the edge's decide
  // location, whose answer carries a forwarded identity for another extension's backend (it did
  // until 2026-12-05). X-Accel-Limit-Rate and the rest are the backend's to say to nobody either.
  it('ignores what a backend says to nginx (X-Accel-Redirect and the rest): the client gets the backend\'s answer', async () => {
    const token = await login(t.url, 'admin', adminPassword);
    for (const to of ['/_mortise_edge/decide?m=GET&u=/proxy/demo/x', '/proxy/demo/other', '@core', '/_mortise_edge/variables']) {
      for (let i = 0; i < 2; i++) {
        const res = await call(edge, token, `/proxy/demo/accel?to=${encodeURIComponent(to)}`);
        const text = await res.text();
        expect(res.status, `${to}: ${text}`).toBe(200);
        expect(text, to).toBe('the backend\'s own answer');
        expect(res.headers.get('x-accel-redirect')).toBeNull();
      }
    }
  });

  it('keeps its decisions through others\' logins and token refreshes, which change none', async () => {
    const token = await login(t.url, 'alice', 'alice-password-1');
    expect((await call(edge, token, '/proxy/demo/kept')).status).toBe(200);
    const [decided, served] = [await decisions(), await edgeRequests()];
    const session = await password('carol');
    const refreshed = await fetch(`${t.url}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.refresh_token }),
    });
    expect(refreshed.status).toBe(200);
    expect((await call(edge, token, '/proxy/demo/kept')).status).toBe(200);
    expect(await decisions()).toBe(decided);
    expect(await edgeRequests()).toBe(served + 1);
  });

  it('stops a revoked session at the next request', async () => {
    const session = await password('alice');
    expect((await call(edge, session.access_token, '/proxy/demo/me')).status).toBe(200);
    expect((await call(edge, session.access_token, '/proxy/demo/me')).status).toBe(200);
    const revoked = await fetch(`${t.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: session.refresh_token }) });
    expect(revoked.status).toBe(200);
    const next = await call(edge, session.access_token, '/proxy/demo/me');
    expect(next.status).toBe(401);
    expect(((await next.json()) as { message: string }).message).toContain('session');
  });

  it('stops a removed permission at the next request', async () => {
    const token = await login(t.url, 'carol', 'carol-password-1');
    expect((await call(edge, token, '/proxy/demo/perm')).status).toBe(200);
    expect((await call(edge, token, '/proxy/demo/perm')).status).toBe(200);
    expect((await t.api(`${iam}/roletemplates/demo-proxy-access`, { method: 'DELETE' })).status).toBe(200);
    const next = await call(edge, token, '/proxy/demo/perm');
    expect(next.status).toBe(403);
    expect(((await next.json()) as { kind: string; message: string })).toMatchObject({ kind: 'Status' });
    expect((await t.api(`${iam}/roletemplates`, { method: 'POST', json: proxyAccessTemplate('demo', ['/proxy/demo/']) })).status).toBe(201);
    expect((await call(edge, token, '/proxy/demo/perm')).status).toBe(200);
  });

  it('stops a disabled user at the next request', async () => {
    const token = await login(t.url, 'carol', 'carol-password-1');
    expect((await call(edge, token, '/proxy/demo/disabled')).status).toBe(200);
    const disabled = await t.api(`${iam}/users/carol/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { status: { state: 'Disabled' } } });
    expect(disabled.status).toBe(200);
    expect((await call(edge, token, '/proxy/demo/disabled')).status).toBe(401);
  });

  it('never reuses a decision past the credential\'s expiry', async () => {
    const short = await startTestCore({ inMemory: true, accessTokenTtlSeconds: 2, edge: { listen: String(await freePort()) } });
    try {
      const upstream = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
      await short.api(`${ext}/reverseproxies`, { method: 'POST', json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name: 'demo', labels: { 'extensions.mortise.io/extension': 'demo' } }, spec: { matcher: { path: '/proxy/demo/' }, upstream: { url: upstream } } } });
      const token = await login(short.url, 'admin', adminPassword);
      expect((await call(short.core.edgeUrl!, token, '/proxy/demo/x')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 2_300));
      expect((await call(short.core.edgeUrl!, token, '/proxy/demo/x')).status).toBe(401);
    } finally {
      await short.close();
    }
  });

  it('records the client\'s address, not the edge\'s, for what the core answers', async () => {
    const created = await call(edge, t.token, `${iam}/globalroles`, { method: 'POST', json: { metadata: { name: 'edge-audited' }, rules: [] } });
    expect(created.status).toBe(201);
    const id = created.headers.get('audit-id');
    const event = await eventually(async () => {
      const r = await t.api(`/kapis/audit.mortise.io/v1alpha1/events/${id}`);
      return r.ok ? ((await r.json()) as { sourceIPs: string[]; user: { username: string } }) : undefined;
    }, 3000, 'the write in the audit log');
    expect(event).toMatchObject({ sourceIPs: ['127.0.0.1'], user: { username: 'admin' } });
  });

  it('records a backend\'s refusal it forwarded in the audit log, as the core would', async () => {
    const token = await login(t.url, 'alice', 'alice-password-1');
    const served = await edgeRequests();
    for (let i = 0; i < 2; i++) expect((await call(edge, token, '/proxy/demo/refuse?what=x', { headers: { 'user-agent': 'edge-audit-test' } })).status).toBe(403);
    // Answered by nginx (the decision allowed the request; the backend refused it).
    expect(await metric(/^mortise_edge_requests_total\{route="gateway\/reverseproxy\/demo",method="GET",code="403"\} (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(await edgeRequests()).toBe(served);
    const events = await eventually(async () => {
      const r = (await (await t.api('/kapis/audit.mortise.io/v1alpha1/events?user=alice')).json()) as { items: Array<{ requestURI: string; responseStatus: { code: number }; sourceIPs: string[]; userAgent?: string; user: { username: string; groups: string[] } }> };
      const mine = r.items.filter((e) => e.requestURI.startsWith('/proxy/demo/refuse'));
      return mine.length >= 2 ? mine : undefined;
    }, 5000, 'the refusals in the audit log');
    expect(events[0]).toMatchObject({ requestURI: '/proxy/demo/refuse?what=x', responseStatus: { code: 403 }, sourceIPs: ['127.0.0.1'], userAgent: 'edge-audit-test', user: { username: 'alice' } });
    expect(events[0]!.user.groups).toContain('system:authenticated');
  });

  it('takes requests on its core socket only from its own nginx, and decides for nobody else', async () => {
    const port = new URL(edge).port;
    const dir = readdirSync(tmpdir()).filter((d) => d.startsWith('mortise-edge-')).map((d) => join(tmpdir(), d))
      .find((d) => readFileSync(join(d, 'nginx.conf'), 'utf8').includes(`:${port};`))!;
    expect(dir).toBeDefined();
    const viaSocket = (path: string, headers: Record<string, string>) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath: join(dir, 'core.sock'), path, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    // Anyone else on the machine who can reach the socket (an extension's backend) gets nothing.
    const forged = await viaSocket(`/_mortise_edge/decide?m=GET&u=${encodeURIComponent('/proxy/demo/x')}`, { authorization: `Bearer ${t.token}`, 'x-mortise-edge-client': '10.9.9.9', 'x-mortise-edge-secret': 'guess' });
    expect(forged.status).toBe(403);
    expect(forged.body).not.toContain('identity');
    // From outside, the decision location does not exist, and the core's own port has no such route.
    expect((await call(edge, t.token, `/_mortise_edge/decide?m=GET&u=${encodeURIComponent('/proxy/demo/x')}`)).status).toBe(404);
    const onCore = await call(t.url, t.token, `/_mortise_edge/decide?m=GET&u=${encodeURIComponent('/proxy/demo/x')}`);
    expect(onCore.status).toBe(404);
    expect(((await onCore.json()) as { kind: string }).kind).toBe('Status');
  });

  it('reloads for a new backend, serving it itself once it has, and drops nothing meanwhile', async () => {
    const token = await login(t.url, 'alice', 'alice-password-1');
    const port = new URL(edge).port;
    const dir = readdirSync(tmpdir()).filter((d) => d.startsWith('mortise-edge-')).map((d) => join(tmpdir(), d))
      .find((d) => readFileSync(join(d, 'nginx.conf'), 'utf8').includes(`:${port};`))!;
    const conf = () => readFileSync(join(dir, 'nginx.conf'), 'utf8');
    const master = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
    // A change that names no new backend (a user) leaves nginx's configuration as it was.
    const before = conf();
    expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'dave' }, spec: { email: 'dave@example.com', password: 'dave-password-1' } } })).status).toBe(201);
    expect(conf()).toBe(before);
    let hits = 0;
    const second = createServer((req, res) => {
      hits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ second: true, url: req.url }));
    });
    await new Promise<void>((r) => second.listen(0, '127.0.0.1', () => r()));
    try {
      const upstream = await addProxy('second', second);
      const served = () => metric(/^mortise_edge_requests_total\{route="gateway\/reverseproxy\/second",method="GET",code="200"\} (\d+)/m);
      // Requests all along: the core answers them until nginx has reloaded, then nginx does.
      const statuses: number[] = [];
      await eventually(async () => {
        const r = await call(edge, token, '/proxy/second/during');
        statuses.push(r.status);
        return (await served()) > 0 ? true : undefined;
      }, 10_000, 'the edge serving the new backend');
      expect(statuses.every((s) => s === 200), statuses.join(' ')).toBe(true);
      expect(conf()).toContain(`server ${upstream.slice('http://'.length)}; keepalive`);
      // The same master, new workers: a graceful reload, not a restart.
      expect(Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'))).toBe(master);
      const [decided, edgeServed, hitsBefore] = [await decisions(), await served(), hits];
      for (let i = 0; i < 10; i++) expect((await call(edge, token, '/proxy/second/during')).status).toBe(200);
      expect(await decisions()).toBe(decided);
      expect(await served()).toBe(edgeServed + 10);
      expect(hits - hitsBefore).toBe(10);
      // The first backend is still served, now by the new workers.
      expect((await call(edge, token, '/proxy/demo/after-reload')).status).toBe(200);
    } finally {
      await new Promise<void>((r) => second.close(() => r()));
    }
  });

  it('restarts its nginx when it dies, deciding afresh', async () => {
    const token = await login(t.url, 'alice', 'alice-password-1');
    expect((await call(edge, token, '/proxy/demo/again')).status).toBe(200);
    const port = new URL(edge).port;
    const dir = readdirSync(tmpdir()).filter((d) => d.startsWith('mortise-edge-')).map((d) => join(tmpdir(), d))
      .find((d) => readFileSync(join(d, 'nginx.conf'), 'utf8').includes(`:${port};`))!;
    const before = await decisions();
    const pidOf = () => {
      try {
        return Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
      } catch {
        return 0;
      }
    };
    const killed = pidOf();
    // nginx stays in the core's session (a session of its own is a scheduler autogroup of its own).
    const sessionOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]);
    expect(sessionOf(killed)).toBe(sessionOf(process.pid));
    const workers = childPids(killed);
    expect(workers.length).toBeGreaterThan(0);
    process.kill(killed, 'SIGKILL');
    await eventually(async () => {
      if (pidOf() === killed || pidOf() === 0) return undefined;
      const r = await call(edge, token, '/proxy/demo/again').catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, 10_000, 'a new nginx serving');
    expect(await decisions()).toBeGreaterThan(before);
    // The killed master's workers did not outlive it (they held the port, and old decisions).
    for (const w of workers) expect(existsSync(`/proc/${w}`) && readFileSync(`/proc/${w}/stat`, 'utf8').split(') ')[1]!.split(' ')[0] !== 'Z').toBe(false);
  });

  it('runs one nginx worker per core but one by default, at least one', () => {
    expect([1, 2, 4, 16].map((cores) => defaultEdgeWorkers(cores))).toEqual([1, 1, 3, 15]);
  });

  it('takes its number of nginx workers from MORTISE_EDGE_WORKERS', () => {
    expect(configFromEnv({ MORTISE_EDGE_LISTEN: '8081' }).edge).toEqual({ listen: '8081' });
    expect(configFromEnv({ MORTISE_EDGE_LISTEN: '8081', MORTISE_EDGE_WORKERS: 'auto' }).edge).toEqual({ listen: '8081' });
    expect(configFromEnv({ MORTISE_EDGE_LISTEN: '8081', MORTISE_EDGE_WORKERS: '3' }).edge).toEqual({ listen: '8081', workers: 3 });
    for (const bad of ['0', 'two', '1.5', '65']) expect(() => configFromEnv({ MORTISE_EDGE_LISTEN: '8081', MORTISE_EDGE_WORKERS: bad })).toThrow(/MORTISE_EDGE_WORKERS must be "auto" or a number of nginx workers from 1 to 64/);
  });

  it('reaches process backends on their Unix sockets only when MORTISE_EDGE_BACKEND_SOCKETS is on', () => {
    expect(configFromEnv({ MORTISE_EDGE_LISTEN: '8081', MORTISE_EDGE_BACKEND_SOCKETS: '' }).edge).toEqual({ listen: '8081' });
    expect(configFromEnv({ MORTISE_EDGE_LISTEN: '8081', MORTISE_EDGE_BACKEND_SOCKETS: 'off' }).edge).toEqual({ listen: '8081' });
    expect(configFromEnv({ MORTISE_EDGE_LISTEN: '8081', MORTISE_EDGE_BACKEND_SOCKETS: 'on' }).edge).toEqual({ listen: '8081', backendSockets: true });
    for (const bad of ['yes', '1', 'true']) expect(() => configFromEnv({ MORTISE_EDGE_LISTEN: '8081', MORTISE_EDGE_BACKEND_SOCKETS: bad })).toThrow(/MORTISE_EDGE_BACKEND_SOCKETS must be "on" or "off"/);
  });

  it('gives each backend an upstream block of its own, and takes only ip:port', () => {
    const base = {
      listen: '127.0.0.1:1', dir: '/run/edge', luaDir: '/lua', modulesDir: '/modules', secret: 's', buckets: [1], maxDecisions: 1, corePid: 1,
      connectTimeoutMs: 1000, responseTimeoutMs: 1000, generation: 7,
    };
    const conf = edgeNginxConfig({ ...base, backends: ['127.0.0.1:8080', '::1:9090'] });
    expect(conf).toContain('upstream mortise_backend_0 { server 127.0.0.1:8080; keepalive 64; }');
    expect(conf).toContain('upstream mortise_backend_1 { server [::1]:9090; keepalive 64; }');
    expect(conf).toContain('generation = 7, backends = { [ [[127.0.0.1:8080]] ] = "mortise_backend_0", [ [[::1:9090]] ] = "mortise_backend_1" }');
    expect(conf).not.toContain('balancer_by_lua');
    for (const bad of ['localhost:80', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:80; server 10.0.0.1:80']) expect(() => edgeNginxConfig({ ...base, backends: [bad] })).toThrow(/is not an ip:port the edge can send to/);
  });

  it('connects to a backend on its Unix socket when it serves on one, still named by its ip:port', () => {
    const base = {
      listen: '127.0.0.1:1', dir: '/run/edge', luaDir: '/lua', modulesDir: '/modules', secret: 's', buckets: [1], maxDecisions: 1, corePid: 1,
      connectTimeoutMs: 1000, responseTimeoutMs: 1000, generation: 7,
    };
    const conf = edgeNginxConfig({ ...base, backends: ['127.0.0.1:8080', '127.0.0.1:8081'], sockets: { '127.0.0.1:8080': '/run/sockets/a1/http.sock' } });
    expect(conf).toContain('upstream mortise_backend_0 { server "unix:/run/sockets/a1/http.sock"; keepalive 64; }');
    expect(conf).toContain('upstream mortise_backend_1 { server 127.0.0.1:8081; keepalive 64; }');
    expect(conf).toContain('backends = { [ [[127.0.0.1:8080]] ] = "mortise_backend_0", [ [[127.0.0.1:8081]] ] = "mortise_backend_1" }');
    // A path nginx would read as more than one argument or a variable is refused, not written.
    for (const bad of ['/run/a b"; server 10.0.0.1:80; #', '/run/$x']) expect(() => edgeNginxConfig({ ...base, backends: ['127.0.0.1:8080'], sockets: { '127.0.0.1:8080': bad } })).toThrow(/cannot put/);
  });

  it('connects to a process backend\'s Unix socket only with backendSockets (MORTISE_EDGE_BACKEND_SOCKETS=on), else to its port', async () => {
    const logger = createLogger({ level: 'silent' });
    const backendAddress = '127.0.0.1:45678';
    const socket = join(tmpdir(), 'mortise-edge-test-socket', 'http.sock');
    const deps = {
      front: () => undefined, upgrade: () => undefined, decide: async () => undefined, timedOut: () => ({ code: 504, toStatus: () => ({}) }),
      backends: () => [backendAddress], sockets: () => new Map([[backendAddress, socket]]),
      audit: t.core.audit, logger, buckets: [1], connectTimeoutMs: 1000, responseTimeoutMs: 1000,
    };
    for (const backendSockets of [false, true]) {
      const port = await freePort();
      const e = new NativeEdge({ listen: String(port), workers: 1, ...(backendSockets ? { backendSockets } : {}) });
      await e.start(deps);
      try {
        const conf = readdirSync(tmpdir()).filter((d) => d.startsWith('mortise-edge-')).map((d) => join(tmpdir(), d, 'nginx.conf'))
          .map((f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } }).find((c) => c.includes(`listen 127.0.0.1:${port};`))!;
        expect(conf).toContain(backendSockets ? `upstream mortise_backend_0 { server "unix:${socket}"; keepalive` : `upstream mortise_backend_0 { server ${backendAddress}; keepalive`);
        expect(conf.includes(socket)).toBe(backendSockets);
      } finally {
        await e.stop();
      }
    }
  });

  it('fails to start with a message that says what to install', async () => {
    const logger = createLogger({ level: 'silent' });
    const deps = {
      front: () => undefined, upgrade: () => undefined, decide: async () => undefined, timedOut: () => ({ code: 504, toStatus: () => ({}) }), backends: () => [],
      audit: t.core.audit, logger, buckets: [1], connectTimeoutMs: 1000, responseTimeoutMs: 1000,
    };
    await expect(new NativeEdge({ listen: '1', nginx: undefined, modulesDir: join(tmpdir(), 'no-such-modules') }).start(deps)).rejects.toThrow(/apt-get install nginx-light libnginx-mod-http-lua/);
    expect(() => new NativeEdge({ listen: 'not an address' }).url).not.toThrow();
    await expect(new NativeEdge({ listen: 'not an address' }).start(deps)).rejects.toThrow(/MORTISE_EDGE_LISTEN must be a port or host:port/);
  });
});

describe('the native edge with two nginx workers', () => {
  let t: TestCore;
  let backend: Server;
  let edge = '';

  beforeAll(async () => {
    backend = createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    t = await startTestCore({ inMemory: true, edge: { listen: String(await freePort()), workers: 2 } });
    edge = t.core.edgeUrl!;
    expect((await t.api(`${ext}/reverseproxies`, {
      method: 'POST',
      json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name: 'demo', labels: { 'extensions.mortise.io/extension': 'demo' } }, spec: { matcher: { path: '/proxy/demo/' }, upstream: { url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}` }, directives: { stripPathPrefix: '/proxy/demo' } } },
    })).status).toBe(201);
    expect((await t.api(`${iam}/roletemplates`, { method: 'POST', json: proxyAccessTemplate('demo', ['/proxy/demo/']) })).status).toBe(201);
    expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'dave' }, spec: { email: 'dave@example.com', password: 'dave-password-1' } } })).status).toBe(201);
  });

  afterAll(async () => {
    await t?.close();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
  });

  // Each request on a connection of its own: nginx hands new connections to either worker.
  const fresh = (token: string) => new Promise<number>((resolve, reject) => {
    const u = new URL(`${edge}/proxy/demo/w`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });

  it('runs two workers, and a revoked session stops at the next request in both', async () => {
    const dir = readdirSync(tmpdir()).filter((d) => d.startsWith('mortise-edge-')).map((d) => join(tmpdir(), d))
      .find((d) => readFileSync(join(d, 'nginx.conf'), 'utf8').includes(`:${new URL(edge).port};`))!;
    expect(childPids(Number(readFileSync(join(dir, 'nginx.pid'), 'utf8')))).toHaveLength(2);
    const session = (await (await fetch(`${t.url}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'password', username: 'dave', password: 'dave-password-1' }),
    })).json()) as { access_token: string; refresh_token: string };
    // Both workers hold the decision (20 connections, each to either).
    for (let i = 0; i < 20; i++) expect(await fresh(session.access_token)).toBe(200);
    // One decision per worker: each holds it (what follows shows the revocation reaches both).
    expect(/^mortise_edge_decisions_total\{answer="edge"\} (\d+)/m.exec(await (await t.api('/metrics')).text())?.[1]).toBe('2');
    const revoked = await fetch(`${t.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: session.refresh_token }) });
    expect(revoked.status).toBe(200);
    for (let i = 0; i < 20; i++) expect(await fresh(session.access_token)).toBe(401);
  });
});
