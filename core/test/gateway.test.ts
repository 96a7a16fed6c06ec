import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest, createServer, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { createExtensionBackend, type ExtensionBackend, type RunningBackend } from '@mortise/extension-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { WebSocket, WebSocketServer } from 'ws';
import { proxyAccessTemplate } from '../src/gateway/proxy-access.js';
import { adminPassword, call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';
import { freePort } from './support/child-core.js';

const iam = '/apis/iam.mortise.io/v1alpha1';
const ext = '/apis/extensions.mortise.io/v1alpha1';
const extLabel = 'extensions.mortise.io/extension';

interface Seen {
  user: string;
  groups: string[];
  path: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A promise with its resolver, for making a backend and a client take turns. */
function signal<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const reverseProxy = (name: string, extension: string, spec: Record<string, unknown>) => ({
  apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name, labels: { [extLabel]: extension } }, spec,
});

// Every case twice: clients on the core's own port, and clients of the native edge (docs/edge.md),
// whose nginx answers safe requests from the core's decisions: the same answers either way.
for (const via of ['core', 'edge'] as const) describe(`gateway (clients of the ${via}): APIService and ReverseProxy routes to extension backends`, () => {
  let t: TestCore;
  /** Where clients send requests: the core's port, or the edge's. */
  let client = '';
  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => call(client, t.token, path, init);
  let backend: ExtensionBackend;
  let running: RunningBackend;
  let aliceToken: string;
  let backendHits = 0;
  let firstUploadChunk = signal();
  let sseRelease = signal();
  const as = (token: string | undefined) => (path: string, init: RequestInit & { json?: unknown } = {}) => call(client, token, path, init);

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true, gateway: { responseTimeoutMs: 750, connectTimeoutMs: 2000 }, ...(via === 'edge' ? { edge: { listen: String(await freePort()) } } : {}) });
    client = via === 'edge' ? t.core.edgeUrl! : t.url;
    backend = createExtensionBackend({ name: 'demo', coreUrl: t.url, handleSignals: false });
    backend.app.use(async (_ctx, next) => {
      backendHits++;
      await next();
    });
    const seen = (ctx: { state: { identity: { username: string; groups: string[] } }; path: string; url: string; req: IncomingMessage }): Seen => ({
      user: ctx.state.identity.username, groups: ctx.state.identity.groups, path: ctx.path, url: ctx.url, headers: ctx.req.headers,
    });
    backend.router.get('/whoami', (ctx) => {
      ctx.body = seen(ctx);
    });
    backend.router.get('/accel', (ctx) => {
      ctx.set({ 'x-accel-redirect': '/_mortise_edge/decide?m=GET&u=/proxy/demo/whoami', 'x-accel-limit-rate': '1', 'x-accel-buffering': 'yes', 'x-accel-charset': 'koi8-r' });
      ctx.body = 'the backend\'s own answer';
    });
    backend.router.post('/hooks/demo/push', (ctx) => {
      ctx.body = seen(ctx);
    });
    backend.router.get('/kapis/demo.example.io/v1/things', (ctx) => {
      ctx.body = { kind: 'ThingList', items: [], ...seen(ctx) };
    });
    backend.router.post('/upload', async (ctx) => {
      let bytes = 0;
      let chunks = 0;
      for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
        if (bytes === 0) firstUploadChunk.resolve();
        bytes += chunk.length;
        chunks++;
      }
      ctx.body = { bytes, chunks, user: ctx.state.identity.username };
    });
    backend.router.get('/events', async (ctx) => {
      ctx.req.socket.setNoDelay(true);
      ctx.respond = false;
      ctx.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      ctx.res.write(`event: hello\ndata: ${ctx.state.identity.username}\n\n`);
      await sseRelease.promise;
      ctx.res.end('event: bye\ndata: done\n\n');
    });
    backend.router.get('/slow', async (ctx) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        ctx.req.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      ctx.body = { late: true };
    });
    running = await backend.listen(0, '127.0.0.1');

    // Websockets: the backend verifies the forwarded identity on the handshake and echoes.
    const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => [...protocols][0] ?? false });
    running.server.on('upgrade', (req, socket, head) => {
      backend.verifyIdentity(req.headers['x-mortise-identity'] as string | undefined).then((identity) => {
        wss.handleUpgrade(req, socket, head, (ws) => {
          ws.send(JSON.stringify({ user: identity.username, authorization: req.headers.authorization ?? null, path: req.url, protocol: ws.protocol, proto: req.headers['x-forwarded-proto'] }));
          ws.on('message', (data, binary) => ws.send(data, { binary }));
        });
      }, () => {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      });
    });

    // The routes, as the installer would create them (the admin here, through the API).
    expect((await api(`${ext}/reverseproxies`, {
      method: 'POST',
      json: reverseProxy('demo', 'demo', {
        matcher: { path: '/proxy/demo/' }, upstream: { url: running.url },
        directives: { stripPathPrefix: '/proxy/demo', headerUp: { 'X-Demo-Up': 'up' }, headerDown: { 'X-Demo-Down': 'down', 'X-Accel-Redirect': '/_mortise_edge/decide?m=GET&u=/proxy/demo/whoami' }, removeHeaders: ['X-Drop-Me'] },
      }),
    })).status).toBe(201);
    expect((await api(`${ext}/apiservices`, {
      method: 'POST',
      json: { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'APIService', metadata: { name: 'v1.demo.example.io', labels: { [extLabel]: 'demo' } }, spec: { group: 'demo.example.io', version: 'v1', url: running.url } },
    })).status).toBe(201);
    expect((await api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'alice' }, spec: { email: 'alice@example.com', password: 'alice-password-1' } } })).status).toBe(201);
    aliceToken = await login(t.url, 'alice', 'alice-password-1');
  });

  afterAll(async () => {
    sseRelease.resolve();
    await running?.close();
    await t?.close();
    // The SDK's default data dirs of the backends this file runs in its own process.
    for (const name of ['demo', 'live', 'switch']) rmSync(join(tmpdir(), `mortise-${name}-data`), { recursive: true, force: true });
  });

  // Security: an nginx in front (an ingress; the edge's own) acts on X-Accel-Redirect (an internal
  // redirect of the client's request to any of its locations) and the rest of X-Accel-*. Neither a
  // backend's answer nor a route's headerDown passes them on.
  it('passes on no X-Accel-* header, from the backend or a route\'s headerDown', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await api('/proxy/demo/accel');
      expect([res.status, await res.text()]).toEqual([200, 'the backend\'s own answer']);
      expect(res.headers.get('x-demo-down')).toBe('down');
      expect([...res.headers.keys()].filter((n) => n.startsWith('x-accel-'))).toEqual([]);
    }
  });

  it('drops identity headers spelled with underscores too (CGI, WSGI and PHP read X_Remote_User as X-Remote-User)', async () => {
    const res = await api('/proxy/demo/whoami', {
      headers: { X_Remote_User: 'mallory', X_Remote_Group: 'system:masters', X_Forwarded_User: 'mallory', X_Forwarded_For: '10.6.6.6', X_Mortise_Identity: 'forged.jwt.token', Remote_User: 'mallory', X_Keep_Me: 'kept' },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Seen;
    expect(body.user).toBe('admin');
    for (const h of ['x_remote_user', 'x_remote_group', 'x_forwarded_user', 'x_forwarded_for', 'x_mortise_identity', 'remote_user']) expect(body.headers[h], h).toBeUndefined();
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(body.headers.x_keep_me).toBe('kept');
  });

  it('forwards the admin with a verified identity, never the client\'s credentials or forged identity headers', async () => {
    const res = await api('/proxy/demo/whoami?x=1&y=2', {
      headers: {
        'X-Remote-User': 'mallory', 'X-Remote-Group': 'system:masters', 'X-Forwarded-User': 'mallory', 'X-Mortise-Identity': 'forged.jwt.token',
        'X-Forwarded-For': '10.6.6.6', 'X-Drop-Me': 'secret', 'X-Keep-Me': 'kept',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-demo-down')).toBe('down');
    const body = (await res.json()) as Seen;
    expect(body.user).toBe('admin');
    expect(body.groups).toContain('system:authenticated');
    expect(body.path).toBe('/whoami');
    expect(body.url).toBe('/whoami?x=1&y=2');
    expect(body.headers.authorization).toBeUndefined();
    expect(body.headers['x-remote-user']).toBeUndefined();
    expect(body.headers['x-remote-group']).toBeUndefined();
    expect(body.headers['x-forwarded-user']).toBeUndefined();
    expect(body.headers['x-mortise-identity']).not.toBe('forged.jwt.token');
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(body.headers['x-forwarded-proto']).toBe('http');
    expect(body.headers['x-forwarded-host']).toBe(new URL(client).host);
    expect(body.headers['x-forwarded-prefix']).toBe('/proxy/demo');
    expect(body.headers['x-demo-up']).toBe('up');
    expect(body.headers['x-drop-me']).toBeUndefined();
    expect(body.headers['x-keep-me']).toBe('kept');
  });

  it('reuses one signed identity per user and extension for most of its minute', async () => {
    const a = (await (await api('/proxy/demo/whoami')).json()) as Seen;
    const b = (await (await api('/proxy/demo/whoami')).json()) as Seen;
    expect(a.headers['x-mortise-identity']).toBe(b.headers['x-mortise-identity']);
    const claims = JSON.parse(Buffer.from(String(a.headers['x-mortise-identity']).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: 'admin', aud: 'demo', token_use: 'forwarded', iss: t.url });
    expect((claims.exp as number) - (claims.iat as number)).toBe(60);
  });

  it('forwards an Ed25519-signed identity that /oauth/keys verifies and the core never takes as an access token', async () => {
    const seen = (await (await api('/proxy/demo/whoami')).json()) as Seen;
    const identity = String(seen.headers['x-mortise-identity']);
    const { payload, protectedHeader } = await jwtVerify(identity, createRemoteJWKSet(new URL(`${t.url}/oauth/keys`)), { issuer: t.url, audience: 'demo', algorithms: ['EdDSA'] });
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: 'admin', token_use: 'forwarded' });
    // No jti: nothing looks one up, and every proxied request carries the token.
    expect(payload).not.toHaveProperty('jti');
    expect(identity.length).toBeLessThan(500);
    // A backend (or anyone who saw one) replaying it to the core as a bearer token gets nowhere.
    const replayed = await call(client, identity, '/api/v1/namespaces');
    expect(replayed.status).toBe(401);
  });

  it('lets other users reach proxy paths once the extension\'s RoleTemplate aggregates to "authenticated"', async () => {
    const alice = as(aliceToken);
    const denied = await alice('/proxy/demo/whoami');
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { message: string }).message).toContain('/proxy/demo/whoami');
    const tpl = proxyAccessTemplate('demo', ['/proxy/demo/']);
    expect((await api(`${iam}/roletemplates`, { method: 'POST', json: tpl })).status).toBe(201);
    const res = await eventually(async () => {
      const r = await alice('/proxy/demo/whoami', { headers: { 'X-Remote-User': 'admin', 'X-Mortise-Identity': 'forged' } });
      return r.status === 200 ? r : undefined;
    }, 2000, 'proxy access for authenticated users');
    const body = (await res.json()) as Seen;
    expect(body.user).toBe('alice');
    expect(body.headers.authorization).toBeUndefined();
    expect(body.headers['x-remote-user']).toBeUndefined();
    // The template opens the extension's own prefix only.
    expect((await alice('/apis/iam.mortise.io/v1alpha1/users')).status).toBe(403);
  });

  it('answers anonymous callers 401 before anything reaches the backend', async () => {
    const before = backendHits;
    const res = await call(client, undefined, '/proxy/demo/whoami', { headers: { 'X-Remote-User': 'admin', 'X-Mortise-Identity': 'forged' } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { kind: string }).kind).toBe('Status');
    const bad = await call(client, 'not-a-token', '/proxy/demo/whoami');
    expect(bad.status).toBe(401);
    expect(backendHits).toBe(before);
  });

  it('serves a webhook route (anonymous, under /hooks/<extension>/) without a login, and nothing else of the extension', async () => {
    const create = (name: string, extension: string, path: string) => api(`${ext}/reverseproxies`, { method: 'POST', json: reverseProxy(name, extension, { matcher: { path }, anonymous: true, upstream: { url: running.url } }) });
    expect((await create('demo-webhook-0', 'demo', '/hooks/demo/')).status).toBe(201);
    // Ignored: anonymous outside /hooks/, and another extension's /hooks/ segment.
    expect((await create('demo-open', 'demo', '/proxy/demo-open/')).status).toBe(201);
    expect((await create('thief-webhook-0', 'thief', '/hooks/demo/push/')).status).toBe(201);
    const hook = await eventually(async () => {
      const r = await call(client, undefined, '/hooks/demo/push', { method: 'POST', body: '{"ref":"main"}', headers: { 'content-type': 'application/json', 'X-Mortise-Identity': 'forged', 'X-Remote-User': 'admin' } });
      return r.status === 200 ? r : undefined;
    }, 2000, 'the webhook route');
    const seenBy = (await hook.json()) as Seen;
    expect(seenBy.user).toBe('system:anonymous');
    expect(seenBy.groups).toEqual(['system:unauthenticated']);
    expect(seenBy.headers['x-remote-user']).toBeUndefined();
    const before = backendHits;
    expect((await call(client, undefined, '/proxy/demo/whoami')).status).toBe(401);
    expect((await call(client, undefined, '/proxy/demo-open/whoami')).status).toBe(401);
    expect((await call(client, undefined, '/hooks/demox/push', { method: 'POST' })).status).toBe(401);
    // Bodies are bounded before the backend sees anything, and must say their length.
    const big = await call(client, undefined, '/hooks/demo/push', { method: 'POST', headers: { 'content-length': String(4 * 1024 * 1024) }, body: Buffer.alloc(4 * 1024 * 1024) });
    expect(big.status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${client}/hooks/demo/push`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      // Sent as it comes (a proxy in front may give a body it already holds whole its length).
      req.write('{');
      setTimeout(() => req.end('}'), 50);
    });
    expect(chunked).toBe(411);
    expect(backendHits).toBe(before);
    for (const n of ['demo-webhook-0', 'demo-open', 'thief-webhook-0']) await api(`${ext}/reverseproxies/${n}`, { method: 'DELETE' });
    await eventually(async () => (await call(client, undefined, '/hooks/demo/push', { method: 'POST' })).status === 401, 2000, 'the webhook route to go');
  });

  it('proxies APIService paths as resource requests: normal RBAC grants apply', async () => {
    const admin = await api('/kapis/demo.example.io/v1/things');
    expect(admin.status).toBe(200);
    expect(((await admin.json()) as Seen & { kind: string })).toMatchObject({ kind: 'ThingList', user: 'admin', path: '/kapis/demo.example.io/v1/things' });
    const before = backendHits;
    const denied = await as(aliceToken)('/kapis/demo.example.io/v1/things');
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { message: string }).message).toMatch(/alice cannot list resource "things" in API group "demo.example.io"/);
    expect(backendHits).toBe(before);
    await api(`${iam}/globalroles`, { method: 'POST', json: { metadata: { name: 'thing-reader' }, rules: [{ apiGroups: ['demo.example.io'], resources: ['things'], verbs: ['list', 'get'] }] } });
    await api(`${iam}/globalrolebindings`, { method: 'POST', json: { metadata: { name: 'alice-thing-reader' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'thing-reader' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'alice' }] } });
    const allowed = await eventually(async () => {
      const r = await as(aliceToken)('/kapis/demo.example.io/v1/things');
      return r.status === 200 ? r : undefined;
    }, 2000, 'APIService grant');
    expect(((await allowed.json()) as Seen).user).toBe('alice');
  });

  it('never lets an APIService or ReverseProxy shadow the core', async () => {
    await api(`${ext}/apiservices`, { method: 'POST', json: { metadata: { name: 'v1alpha1.iam.mortise.io' }, spec: { group: 'iam.mortise.io', version: 'v1alpha1', url: running.url } } });
    await api(`${ext}/reverseproxies`, { method: 'POST', json: reverseProxy('evil', 'evil', { matcher: { path: '/oauth/' }, upstream: { url: running.url } }) });
    const res = await api('/apis/iam.mortise.io/v1alpha1/users/admin');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { kind: string }).kind).toBe('User');
    const keys = await call(client, undefined, '/oauth/keys');
    expect(((await keys.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    await api(`${ext}/apiservices/v1alpha1.iam.mortise.io`, { method: 'DELETE' });
    await api(`${ext}/reverseproxies/evil`, { method: 'DELETE' });
  });

  it('answers 503 with a Status while the route is disabled', async () => {
    const patch = (enabled: boolean) => api(`${ext}/reverseproxies/demo`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { enabled } } });
    expect((await patch(false)).status).toBe(200);
    const res = await eventually(async () => {
      const r = await api('/proxy/demo/whoami');
      return r.status === 503 ? r : undefined;
    }, 2000, 'disabled route');
    const status = (await res.json()) as { kind: string; reason: string; message: string; code: number };
    expect(status).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect(status.message).toContain('the extension "demo" is disabled');
    expect(status.message).toContain('enable');
    expect((await patch(true)).status).toBe(200);
    await eventually(async () => (await api('/proxy/demo/whoami')).status === 200, 2000, 're-enabled route');
  });

  it('answers 503 with Retry-After while the health source says the backend is not ready', async () => {
    const runtimeView = t.core.gateway.setHealthSource((extension) => (extension === 'demo' ? { healthy: false, message: 'the backend is Restarting: exit code 1' } : { healthy: true }));
    // A change made inside the core (not through the API, whose writes wait for the edge themselves).
    await t.core.edgeSettled();
    try {
      const res = await api('/proxy/demo/whoami');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(((await res.json()) as { message: string }).message).toBe('the backend of extension "demo" is not ready: the backend is Restarting: exit code 1');
    } finally {
      t.core.gateway.setHealthSource(runtimeView);
      await t.core.edgeSettled();
    }
    expect((await api('/proxy/demo/whoami')).status).toBe(200);
  });

  it('answers 502 naming the extension when its backend is down', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await api(`${ext}/reverseproxies`, { method: 'POST', json: reverseProxy('ghost', 'ghost', { matcher: { path: '/proxy/ghost/' }, upstream: { url: `http://127.0.0.1:${port}` } }) });
    const res = await eventually(async () => {
      const r = await api('/proxy/ghost/anything');
      return r.status === 502 ? r : undefined;
    }, 2000, '502');
    const status = (await res.json()) as { kind: string; message: string };
    expect(status.kind).toBe('Status');
    expect(status.message).toMatch(/the backend of extension "ghost" is unreachable: .*ECONNREFUSED/);
  });

  it('answers 504 when the backend does not answer in time', async () => {
    const started = Date.now();
    const res = await api('/proxy/demo/slow');
    expect(res.status).toBe(504);
    expect(((await res.json()) as { message: string }).message).toBe('the backend of extension "demo" did not answer within 750 ms');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('streams a 20 MiB upload: the backend reads the first chunk before the client has sent the rest', async () => {
    firstUploadChunk = signal();
    const total = 20 * 1024 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 7);
    const result = await new Promise<{ status: number; body: { bytes: number; chunks: number; user: string } }>((resolve, reject) => {
      const req = httpRequest(`${client}/proxy/demo/upload`, { method: 'POST', headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      (async () => {
        // One chunk, then wait until the backend has it: a buffering gateway would never deliver it.
        req.write(chunk);
        await firstUploadChunk.promise;
        for (let sent = chunk.length; sent < total; sent += chunk.length) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(reject);
    });
    expect(result.status).toBe(200);
    expect(result.body.bytes).toBe(total);
    expect(result.body.chunks).toBeGreaterThan(1);
    expect(result.body.user).toBe('admin');
  });

  it('streams server-sent events: the first event arrives before the response ends', async () => {
    sseRelease = signal();
    const res = await api('/proxy/demo/events');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe('event: hello\ndata: admin\n\n');
    sseRelease.resolve();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe('event: hello\ndata: admin\n\nevent: bye\ndata: done\n\n');
  });

  it('tunnels websockets: authenticated by the Authorization header, identity forwarded, frames echoed', async () => {
    const ws = new WebSocket(`${client.replace('http', 'ws')}/proxy/demo/socket?room=1`, ['echo'], { headers: { authorization: `Bearer ${aliceToken}`, 'X-Remote-User': 'admin' } });
    const messages: string[] = [];
    const next = () => new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    const hello = next();
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    messages.push(await hello);
    expect(JSON.parse(messages[0]!)).toEqual({ user: 'alice', authorization: null, path: '/socket?room=1', protocol: 'echo', proto: 'http' });
    const echoed = next();
    ws.send('ping through the gateway');
    expect(await echoed).toBe('ping through the gateway');
    const big = 'x'.repeat(200_000);
    const echoedBig = next();
    ws.send(big);
    expect(await echoedBig).toBe(big);
    ws.close();
    await new Promise((r) => ws.once('close', r));
  });

  it('accepts the bearer subprotocol browsers use, and strips it before the backend', async () => {
    const bearer = `base64url.bearer.authorization.k8s.io.${Buffer.from(t.token).toString('base64url')}`;
    const ws = new WebSocket(`${client.replace('http', 'ws')}/proxy/demo/socket`, ['chat', bearer]);
    const hello = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(d.toString()));
      ws.once('error', reject);
    });
    expect(JSON.parse(hello)).toMatchObject({ user: 'admin', protocol: 'chat', authorization: null });
    ws.close();
  });

  it('accepts the console\'s session cookie on a websocket only from the core\'s own origin', async () => {
    const signIn = await fetch(`${client}/oauth/session`, { method: 'POST', body: new URLSearchParams({ username: 'admin', password: adminPassword }), headers: { origin: client } });
    expect(signIn.ok).toBe(true);
    const cookie = signIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    expect(cookie).toContain('mortise_session=');
    const open = (headers: Record<string, string>) => new Promise<{ status: number; hello?: Record<string, unknown> }>((resolve) => {
      const ws = new WebSocket(`${client.replace('http', 'ws')}/proxy/demo/socket`, { headers: { cookie, ...headers } });
      ws.once('message', (d) => {
        resolve({ status: 101, hello: JSON.parse(d.toString()) as Record<string, unknown> });
        ws.close();
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode! });
        res.resume();
      });
      ws.once('error', () => undefined);
    });
    const ok = await open({ origin: client });
    expect(ok.status).toBe(101);
    expect(ok.hello).toMatchObject({ user: 'admin' });
    // Another site's page (cross-site websocket hijacking), or no Origin at all: refused.
    expect((await open({ origin: 'https://evil.example' })).status).toBe(403);
    expect((await open({})).status).toBe(403);
  });

  it('serves the gateway over TLS on the same port too (HTTPS requests and wss handshakes)', async () => {
    const body = await new Promise<Seen>((resolve, reject) => {
      const req = httpsRequest(`${t.httpsUrl}/proxy/demo/whoami`, { ca: t.core.certs.caCertPem, headers: { authorization: `Bearer ${t.token}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(JSON.parse(text) as Seen));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toMatchObject({ user: 'admin', path: '/whoami', headers: { 'x-forwarded-proto': 'https' } });
    const ws = new WebSocket(`${t.httpsUrl.replace('https', 'wss')}/proxy/demo/socket`, { ca: t.core.certs.caCertPem, headers: { authorization: `Bearer ${t.token}` } });
    const hello = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(d.toString()));
      ws.once('error', reject);
    });
    expect(JSON.parse(hello)).toMatchObject({ user: 'admin', proto: 'https' });
    ws.close();
  });

  it('refuses websocket handshakes without a valid token (401) and without a grant (403)', async () => {
    const handshake = (headers: Record<string, string>, path = '/proxy/demo/socket') => new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${client.replace('http', 'ws')}${path}`, { headers });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode!);
        res.resume();
      });
      ws.once('open', () => reject(new Error('the handshake succeeded')));
      ws.once('error', () => undefined);
    });
    const before = backendHits;
    expect(await handshake({})).toBe(401);
    expect(await handshake({ authorization: 'Bearer nope' })).toBe(401);
    // bob may reach /proxy/demo/ (the aggregated template) but holds no grant on the APIService.
    await api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'bob' }, spec: { email: 'bob@example.com', password: 'bob-password-1' } } });
    const bob = await login(t.url, 'bob', 'bob-password-1');
    expect(await handshake({ authorization: `Bearer ${bob}` }, '/kapis/demo.example.io/v1/things?watch=1')).toBe(403);
    expect(backendHits).toBe(before);
    const audit = (await (await api('/kapis/audit.mortise.io/v1alpha1/events?user=bob')).json()) as { items: Array<{ verb: string; responseStatus: { code: number }; requestURI: string }> };
    expect(audit.items[0]).toMatchObject({ verb: 'watch', responseStatus: { code: 403 }, requestURI: '/kapis/demo.example.io/v1/things' });
  });

  it('closes a websocket tunnel once its grant is revoked (as an open watch ends)', async () => {
    await api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'carla' }, spec: { email: 'carla@example.com', password: 'carla-password-1' } } });
    const carla = await login(t.url, 'carla', 'carla-password-1');
    expect((await api(`${iam}/globalroles`, { method: 'POST', json: { metadata: { name: 'things-watcher' }, rules: [{ apiGroups: ['demo.example.io'], resources: ['things'], verbs: ['watch'] }] } })).status).toBe(201);
    expect((await api(`${iam}/globalrolebindings`, { method: 'POST', json: { metadata: { name: 'carla-things' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'things-watcher' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'carla' }] } })).status).toBe(201);
    const open = (token: string) => new WebSocket(`${client.replace('http', 'ws')}/kapis/demo.example.io/v1/things?watch=1`, { headers: { authorization: `Bearer ${token}` } });
    const ws = await eventually(async () => {
      const w = open(carla);
      const ok = await new Promise<boolean>((resolve) => {
        w.once('message', () => resolve(true));
        w.once('unexpected-response', (_req, res) => {
          res.resume();
          resolve(false);
        });
        w.once('error', () => resolve(false));
      });
      return ok ? w : undefined;
    }, 3000, 'carla tunnelled');
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    // An unrelated change leaves it open.
    expect((await api(`${iam}/globalroles`, { method: 'POST', json: { metadata: { name: 'unrelated' }, rules: [] } })).status).toBe(201);
    const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    ws.send('still here');
    expect(await echoed).toBe('still here');
    expect((await api(`${iam}/globalrolebindings/carla-things`, { method: 'DELETE' })).status).toBe(200);
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the tunnel stayed open after the revocation')), 3000))]);
  });

  it('rebuilds routes live as ReverseProxies are created, changed and deleted', async () => {
    const other = createExtensionBackend({ name: 'live', coreUrl: t.url, handleSignals: false });
    other.router.get('/{*rest}', (ctx) => {
      ctx.body = { backend: 'live', path: ctx.path, user: ctx.state.identity.username };
    });
    const live = await other.listen(0, '127.0.0.1');
    try {
      expect((await api('/proxy/live/a')).status).toBe(404);
      expect((await api(`${ext}/reverseproxies`, { method: 'POST', json: reverseProxy('live', 'live', { matcher: { path: '/proxy/live/' }, upstream: { url: live.url } }) })).status).toBe(201);
      const created = await eventually(async () => {
        const r = await api('/proxy/live/a');
        return r.status === 200 ? r : undefined;
      }, 2000, 'new route');
      expect(await created.json()).toEqual({ backend: 'live', path: '/proxy/live/a', user: 'admin' });

      const patched = await api(`${ext}/reverseproxies/live`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { directives: { stripPathPrefix: '/proxy/live/', headerDown: { 'X-Live': '2' } } } } });
      expect(patched.status).toBe(200);
      const changed = await eventually(async () => {
        const r = await api('/proxy/live/a');
        return r.headers.get('x-live') === '2' ? r : undefined;
      }, 2000, 'changed route');
      expect(((await changed.json()) as { path: string }).path).toBe('/a');

      // The longest prefix wins; a method-limited route only takes its method.
      await api(`${ext}/reverseproxies`, { method: 'POST', json: reverseProxy('live-deep', 'demo', { matcher: { path: '/proxy/live/deep/', method: 'POST' }, upstream: { url: running.url } }) });
      await eventually(async () => (await api('/proxy/live/deep/upload', { method: 'POST', body: 'abc' })).status === 404, 2000, 'deep route (POST to demo, which has no such path)');
      expect(((await (await api('/proxy/live/deep/x')).json()) as { backend: string }).backend).toBe('live');

      expect((await api(`${ext}/reverseproxies/live`, { method: 'DELETE' })).status).toBe(200);
      await eventually(async () => (await api('/proxy/live/a')).status === 404, 2000, 'deleted route');
      await api(`${ext}/reverseproxies/live-deep`, { method: 'DELETE' });
    } finally {
      await live.close();
    }
  });

  it('lets requests in flight finish when a route switches to another backend (an upgrade)', async () => {
    const release = signal();
    const make = async (version: string) => {
      const b = createExtensionBackend({ name: 'switch', coreUrl: t.url, handleSignals: false });
      b.router.get('/version', (ctx) => {
        ctx.body = { version };
      });
      b.router.get('/stream', async (ctx) => {
        ctx.respond = false;
        ctx.res.writeHead(200, { 'content-type': 'text/plain' });
        ctx.res.write(`${version} started\n`);
        await release.promise;
        ctx.res.end(`${version} finished\n`);
      });
      return b.listen(0, '127.0.0.1');
    };
    const [v1, v2] = [await make('v1'), await make('v2')];
    try {
      await api(`${ext}/reverseproxies`, { method: 'POST', json: reverseProxy('switch', 'switch', { matcher: { path: '/proxy/switch/' }, upstream: { url: v1.url }, directives: { stripPathPrefix: '/proxy/switch' } }) });
      await eventually(async () => (await api('/proxy/switch/version')).ok, 2000, 'v1 route');
      const head = await api('/proxy/switch/version', { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(JSON.stringify({ version: 'v1' }).length));
      const stream = await api('/proxy/switch/stream');
      const reader = stream.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('v1 started\n');
      await api(`${ext}/reverseproxies/switch`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { upstream: { url: v2.url } } } });
      await eventually(async () => ((await (await api('/proxy/switch/version')).json()) as { version: string }).version === 'v2', 2000, 'v2 route');
      release.resolve();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += new TextDecoder().decode(value);
      }
      expect(rest).toBe('v1 finished\n');
    } finally {
      release.resolve();
      await api(`${ext}/reverseproxies/switch`, { method: 'DELETE' });
      await v1.close();
      await v2.close();
    }
  });

  it('answers a non-websocket upgrade request (h2c) as the plain request it is', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const port = Number(new URL(client).port);
      const s = netConnect(port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'));
      let text = '';
      // The response, whether the server then closes the connection (the core) or keeps it (the edge).
      const complete = () => {
        const head = text.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(text.slice(0, head));
        return head >= 0 && length && text.length >= head + 4 + Number(length[1]);
      };
      s.on('data', (d) => {
        text += d;
        if (complete()) {
          s.destroy();
          resolve(text);
        }
      });
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    expect(raw.startsWith('HTTP/1.1 200')).toBe(true);
    expect(raw).toContain('ok');
  });

  it('refuses dot segments rather than forward them', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      // A raw path: URL parsing (fetch, a URL string) would resolve the dots before sending.
      const { hostname, port } = new URL(client);
      const req = httpRequest({ hostname, port, path: '/proxy/demo/a/%2e%2e/whoami', headers: { authorization: `Bearer ${t.token}` } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(res).toBe(400);
  });

  it('refuses an encoded slash, or a backslash, in an APIService path (its segments are names), forwards it on a ReverseProxy', async () => {
    const raw = (path: string) => new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(client);
      const req = httpRequest({ hostname, port, path, headers: { authorization: `Bearer ${t.token}` } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    const before = backendHits;
    // Authorized as one name in namespace a; a backend that decodes and resolves it would serve namespace b.
    for (const path of ['/kapis/demo.example.io/v1/namespaces/a/things/x%2F..%2F..%2Fb%2Fthings', '/kapis/demo.example.io/v1/namespaces/a/things/x%2f..', '/kapis/demo.example.io/v1/namespaces/a%5C..%5Cb/things', '/kapis/demo.example.io/v1/namespaces/a/things/x\\..\\..\\b\\things']) {
      expect(await raw(path), path).toBe(400);
    }
    expect(backendHits).toBe(before);
    // A ReverseProxy's paths are its backend's own (a repository "group%2Fproject"): passed on.
    expect(await raw('/proxy/demo/group%2Fproject')).toBe(404);
    expect(backendHits).toBe(before + 1);
  });

  it('audits proxied writes and denials like any request, with the Audit-ID the client got', async () => {
    const upload = await api('/proxy/demo/upload', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
    expect(upload.status).toBe(200);
    const auditID = upload.headers.get('audit-id');
    expect(auditID).toMatch(/^[0-9a-f-]{36}$/);
    const denied = await call(client, 'not-a-token', '/proxy/demo/whoami');
    expect(denied.status).toBe(401);
    const deniedID = denied.headers.get('audit-id');
    expect(deniedID).toMatch(/^[0-9a-f-]{36}$/);
    // A read that succeeds is not recorded, and says so by carrying no ID.
    expect((await api('/proxy/demo/whoami')).headers.get('audit-id')).toBeNull();
    const write = await eventually(async () => {
      const r = await api(`/kapis/audit.mortise.io/v1alpha1/events/${auditID}`);
      return r.ok ? ((await r.json()) as { user: { username: string }; verb: string; requestURI: string; responseStatus: { code: number }; annotations?: Record<string, string> }) : undefined;
    }, 3000, 'the proxied write in the audit log');
    expect(write).toMatchObject({ user: { username: 'admin' }, verb: 'post', requestURI: '/proxy/demo/upload', responseStatus: { code: 200 }, annotations: { decision: 'allow' } });
    const denial = await eventually(async () => {
      const r = await api(`/kapis/audit.mortise.io/v1alpha1/events/${deniedID}`);
      return r.ok ? ((await r.json()) as { user: { username: string }; responseStatus: { code: number } }) : undefined;
    }, 3000, 'the denial in the audit log');
    expect(denial).toMatchObject({ user: { username: 'system:anonymous' }, responseStatus: { code: 401 } });
  });

  it('counts proxied requests in the core\'s request metrics, labelled by route, never by path', async () => {
    await api('/proxy/demo/whoami?x=1');
    const text = await (await api('/metrics')).text();
    // What the edge answers itself it counts in its own family, with the same labels.
    const family = via === 'edge' ? 'mortise_edge_requests_total' : 'mortise_http_requests_total';
    expect(text).toMatch(new RegExp(`${family}\\{route="gateway/reverseproxy/demo",method="GET",code="200"\\} \\d+`));
    expect(text).toMatch(new RegExp(`${family}\\{route="gateway/apiservice/demo",method="GET",code="200"\\} \\d+`));
    expect(text).not.toMatch(/route="[^"]*whoami/);
  });

  it('keeps per-route metrics on the core\'s registry', async () => {
    await api('/proxy/demo/whoami');
    const text = await (await api('/metrics')).text();
    if (via === 'edge') {
      expect(text).toMatch(/mortise_edge_request_duration_seconds_count\{route="gateway\/reverseproxy\/demo",method="GET"\} [1-9]\d*/);
      expect(text).toMatch(/mortise_edge_request_duration_seconds_bucket\{route="gateway\/apiservice\/demo",method="GET",le="\+Inf"\} [1-9]\d*/);
    } else {
      expect(text).toMatch(/mortise_gateway_requests_total\{extension="demo",route="reverseproxy",method="GET",code="200"\} \d+/);
      expect(text).toMatch(/mortise_gateway_requests_total\{extension="demo",route="apiservice",method="GET",code="200"\} \d+/);
    }
    expect(text).toMatch(/mortise_gateway_requests_total\{extension="demo",route="reverseproxy",method="GET",code="101"\} \d+/);
    expect(text).toMatch(/mortise_gateway_request_duration_seconds_count\{extension="demo",route="reverseproxy",method="GET"\} \d+/);
    expect(text).toMatch(/mortise_gateway_upstream_errors_total\{extension="ghost",route="reverseproxy",reason="connect_error"\} \d+/);
    expect(text).toMatch(/mortise_gateway_upstream_errors_total\{extension="demo",route="reverseproxy",reason="response_timeout"\} 1/);
    expect(text).toMatch(/mortise_gateway_upstream_errors_total\{extension="demo",route="reverseproxy",reason="unhealthy"\} 1/);
  });
});
