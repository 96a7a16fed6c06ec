import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { generateKeyPair, SignJWT, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreApiError, createExtensionBackend, type ExtensionBackend, type RunningBackend } from '../src/index.js';
import { startTestCore, type TestCore } from '../../core/test/support/test-core.js';

// The backend helper against a real core: the identities it accepts are the ones the core signs
// for this extension, and the client calls the core's real API.

const ext = '/apis/extensions.mortise.io/v1alpha1';

describe('createExtensionBackend', () => {
  let t: TestCore;
  let backend: ExtensionBackend;
  let running: RunningBackend;
  const logged: Array<Record<string, unknown>> = [];

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${running.url}${path}`, { headers });
  const forwarded = (claims: Record<string, unknown> = {}, audience = 'sdk-demo', ttl = 60) =>
    t.core.tokens.sign({ sub: 'alice', groups: ['system:authenticated', 'devs'], token_use: 'forwarded', ...claims }, audience, ttl);

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    backend = createExtensionBackend({
      name: 'sdk-demo', coreUrl: t.url, token: t.token, publicPaths: ['/public/*', '/robots.txt'], rawBodyPaths: ['/raw/*'], handleSignals: false, maxBodyBytes: 1000,
      log: (level, msg, fields) => logged.push({ level, msg, ...fields }),
    });
    backend.router.post('/echo', (ctx) => {
      ctx.body = { received: ctx.request.body ?? null, user: ctx.state.identity.username };
    });
    // Reads its body itself: what the JSON parser left unread.
    const rawEcho = async (ctx: { req: AsyncIterable<Buffer>; request: { body?: unknown }; body: unknown }) => {
      const chunks: Buffer[] = [];
      for await (const c of ctx.req) chunks.push(c);
      ctx.body = { bytes: Buffer.concat(chunks).length, parsed: ctx.request.body ?? null };
    };
    backend.router.post('/raw/push', rawEcho);
    backend.router.post('/gz', rawEcho);
    backend.router.get('/me', (ctx) => {
      ctx.body = ctx.state.identity;
    });
    backend.router.get('/public/info', (ctx) => {
      ctx.body = { public: true, identity: ctx.state.identity ?? null };
    });
    backend.router.get('/boom', () => {
      throw new Error('secret internal detail');
    });
    backend.app.silent = true;
    running = await backend.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await running?.close();
    await t?.close();
    // The SDK's default data dirs (under the OS temp dir) of the backends made here without one.
    for (const name of ['sdk-demo', 'from-env']) rmSync(join(tmpdir(), `mortise-${name}-data`), { recursive: true, force: true });
  });

  it('serves the health path without an identity', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves public paths without an identity, and nothing else', async () => {
    expect(await (await get('/public/info')).json()).toEqual({ public: true, identity: null });
    const res = await get('/me');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    expect(await res.json()).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized', message: expect.stringContaining('X-Mortise-Identity') });
  });

  it('accepts an identity the core signed for this extension and puts it in ctx.state.identity', async () => {
    const res = await get('/me', { 'X-Mortise-Identity': await forwarded() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ username: 'alice', groups: ['system:authenticated', 'devs'] });
  });

  it('refuses an identity for another extension (audience)', async () => {
    const res = await get('/me', { 'X-Mortise-Identity': await forwarded({}, 'other-extension') });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toMatch(/not for this extension.*aud/);
  });

  it('refuses a token signed with another key, even one claiming the core\'s key id', async () => {
    const real = await forwarded();
    // The core's algorithm (EdDSA) and key id, another key.
    const { kid, alg } = decodeProtectedHeader(real);
    const { privateKey } = await generateKeyPair(alg!);
    const forged = await new SignJWT({ sub: 'admin', groups: ['system:authenticated'], token_use: 'forwarded' })
      .setProtectedHeader({ alg: alg!, kid: kid! }).setIssuer(t.url).setAudience('sdk-demo').setIssuedAt().setExpirationTime('60s').sign(privateKey);
    const res = await get('/me', { 'X-Mortise-Identity': forged });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toBe('the identity token has an invalid signature');
    const unknownKey = await new SignJWT({ sub: 'admin', token_use: 'forwarded' })
      .setProtectedHeader({ alg: alg!, kid: 'not-a-core-key' }).setIssuer(t.url).setAudience('sdk-demo').setIssuedAt().setExpirationTime('60s').sign(privateKey);
    expect((await get('/me', { 'X-Mortise-Identity': unknownKey })).status).toBe(401);
  });

  it('refuses the core\'s access tokens, tokens not meant to be forwarded, and garbage', async () => {
    expect((await get('/me', { 'X-Mortise-Identity': t.token })).status).toBe(401);
    const access = await forwarded({ token_use: 'access' });
    const res = await get('/me', { 'X-Mortise-Identity': access });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toContain('token_use');
    expect((await get('/me', { 'X-Mortise-Identity': 'a.b.c' })).status).toBe(401);
    expect((await get('/me', { authorization: `Bearer ${t.token}` })).status).toBe(401);
  });

  it('refuses expired identities and identities from another issuer', async () => {
    const strict = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, clockToleranceSeconds: 0, handleSignals: false });
    strict.router.get('/me', (ctx) => {
      ctx.body = ctx.state.identity;
    });
    const s = await strict.listen(0, '127.0.0.1');
    const elsewhere = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, issuer: 'https://another-core.example', handleSignals: false });
    const e = await elsewhere.listen(0, '127.0.0.1');
    try {
      // exp is in whole seconds: two of them leave at least one for the first request.
      const shortLived = await forwarded({}, 'sdk-demo', 2);
      expect((await fetch(`${s.url}/me`, { headers: { 'X-Mortise-Identity': shortLived } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 3100));
      const expired = await fetch(`${s.url}/me`, { headers: { 'X-Mortise-Identity': shortLived } });
      expect(expired.status).toBe(401);
      expect(((await expired.json()) as { message: string }).message).toBe('the identity token has expired');
      const other = await fetch(`${e.url}/me`, { headers: { 'X-Mortise-Identity': await forwarded() } });
      expect(other.status).toBe(401);
      expect(((await other.json()) as { message: string }).message).toMatch(/iss/);
    } finally {
      await s.close();
      await e.close();
    }
  });

  it('sees the caller the core forwards when reached through the gateway', async () => {
    expect((await t.api(`${ext}/reverseproxies`, {
      method: 'POST',
      json: {
        metadata: { name: 'sdk-demo', labels: { 'extensions.mortise.io/extension': 'sdk-demo' } },
        spec: { matcher: { path: '/proxy/sdk-demo/' }, upstream: { url: running.url }, directives: { stripPathPrefix: '/proxy/sdk-demo' } },
      },
    })).status).toBe(201);
    const res = await t.api('/proxy/sdk-demo/me', { headers: { 'X-Mortise-Identity': await forwarded() } });
    expect(res.status).toBe(200);
    const identity = (await res.json()) as { username: string; groups: string[] };
    expect(identity.username).toBe('admin');
    expect(identity.groups).toContain('system:authenticated');
  });

  it('answers unknown paths and failing handlers with a Status, without leaking details', async () => {
    const identity = { 'X-Mortise-Identity': await forwarded() };
    const missing = await get('/nope', identity);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    const boom = await get('/boom', identity);
    expect(boom.status).toBe(500);
    const text = await boom.text();
    expect(text).not.toContain('secret internal detail');
    expect(JSON.parse(text)).toMatchObject({ kind: 'Status', code: 500 });
    // ... which stay in the extension's log.
    expect(logged).toContainEqual(expect.objectContaining({ level: 'error', event: 'request-failed', msg: 'GET /boom failed: secret internal detail' }));
  });

  it('parses JSON bodies, bounded, with a 400 or 413 Status for bad ones', async () => {
    const identity = { 'X-Mortise-Identity': await forwarded() };
    const post = (body: string, type = 'application/json') => fetch(`${running.url}/echo`, { method: 'POST', headers: { ...identity, 'content-type': type }, body });
    const ok = await post(JSON.stringify({ title: 'note', n: 1 }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ received: { title: 'note', n: 1 }, user: 'alice' });
    expect(await (await post('{"a":1}', 'application/merge-patch+json')).json()).toMatchObject({ received: { a: 1 } });
    // Other content types are left to the handler.
    expect(await (await post('plain words', 'text/plain')).json()).toMatchObject({ received: null });
    const bad = await post('{"title": ');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest', message: expect.stringMatching(/^the request body is not valid JSON: /) });
    const big = await post(JSON.stringify({ text: 'x'.repeat(2000) }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge', message: 'the request body is larger than 1000 bytes' });
  });

  it('leaves the body of rawBodyPaths and of compressed requests to the handler, whatever its size', async () => {
    const headers = { 'X-Mortise-Identity': await forwarded(), 'content-type': 'application/json' };
    const big = JSON.stringify({ text: 'x'.repeat(5000) });
    const raw = await fetch(`${running.url}/raw/push`, { method: 'POST', headers, body: big });
    expect(await raw.json()).toEqual({ bytes: big.length, parsed: null });
    const gz = await fetch(`${running.url}/gz`, { method: 'POST', headers: { ...headers, 'content-encoding': 'gzip' }, body: gzipSync(big) });
    expect(gz.status).toBe(200);
    expect(await gz.json()).toEqual({ bytes: gzipSync(big).length, parsed: null });
  });

  it('reports a call the core refused for want of a permission as a 403 naming it, to the caller and the log', async () => {
    await t.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { metadata: { name: 'no-perms' }, spec: { email: 'np@example.com', password: 'no-perms-password-1' } } });
    const { login } = await import('../../core/test/support/test-core.js');
    const weak = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, token: await login(t.url, 'no-perms', 'no-perms-password-1'), handleSignals: false, log: (level, msg, fields) => logged.push({ level, msg, ...fields }) });
    weak.router.get('/namespaces', async (ctx) => {
      ctx.body = await weak.core.get('/api/v1/namespaces');
    });
    const s = await weak.listen(0, '127.0.0.1');
    try {
      const res = await fetch(`${s.url}/namespaces`, { headers: { 'X-Mortise-Identity': await forwarded() } });
      expect(res.status).toBe(403);
      const body = (await res.json()) as { message: string; reason: string };
      expect(body.reason).toBe('Forbidden');
      expect(body.message).toMatch(/^the extension sdk-demo may not GET \/api\/v1\/namespaces: .*cannot list resource "namespaces".*\(its service account holds only the permissions its extension.yaml declares\)$/);
      expect(logged).toContainEqual(expect.objectContaining({ level: 'warn', event: 'permission-denied', msg: body.message, request: { method: 'GET', path: '/namespaces' } }));
    } finally {
      await s.close();
    }
  });

  it('serves the health path it is given (the manifest\'s backend.healthPath, via MORTISE_HEALTH_PATH) and no other without an identity', async () => {
    const saved = process.env.MORTISE_HEALTH_PATH;
    process.env.MORTISE_HEALTH_PATH = '/ready';
    try {
      const b = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, handleSignals: false, log: () => undefined });
      expect(b.healthPath).toBe('/ready');
      const s = await b.listen(0, '127.0.0.1');
      try {
        expect((await fetch(`${s.url}/ready`)).status).toBe(200);
        expect((await fetch(`${s.url}/healthz`)).status).toBe(401);
      } finally {
        await s.close();
      }
    } finally {
      if (saved === undefined) delete process.env.MORTISE_HEALTH_PATH;
      else process.env.MORTISE_HEALTH_PATH = saved;
    }
  });

  it('calls the core as its service account, with the core\'s Status on failure', async () => {
    const user = await backend.core.get<{ kind: string; metadata: { name: string } }>('/apis/iam.mortise.io/v1alpha1/users/admin');
    expect(user).toMatchObject({ kind: 'User', metadata: { name: 'admin' } });
    const created = await backend.core.post<{ metadata: { name: string; resourceVersion: string } }>('/api/v1/namespaces', { metadata: { name: 'sdk-ns' } });
    expect(created.metadata.name).toBe('sdk-ns');
    const patched = await backend.core.patch<{ metadata: { labels: Record<string, string> } }>('/api/v1/namespaces/sdk-ns', { metadata: { labels: { team: 'a' } } });
    expect(patched.metadata.labels.team).toBe('a');
    await backend.core.delete('/api/v1/namespaces/sdk-ns');
    const err = await backend.core.get('/apis/iam.mortise.io/v1alpha1/users/nobody').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoreApiError);
    expect(err).toMatchObject({ code: 404, reason: 'NotFound', status: { kind: 'Status', code: 404 } });
    // A name with dot segments (a request's %2F decoded) would resolve to another object: refused unsent.
    for (const name of ['x/../../../kube-system', 'x\\..\\..\\..\\kube-system', 'x/%2e%2E/%2e./..']) {
      await expect(backend.core.get(`/api/v1/namespaces/default/secrets/${name}`)).rejects.toMatchObject({ code: 400, message: expect.stringMatching(/"\." or "\.\." segments/) });
    }
    expect(await backend.core.get('/apis/iam.mortise.io/v1alpha1/users/admin', { query: { fieldSelector: 'x=../..' } })).toMatchObject({ kind: 'User' });
    const anonymous = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, token: '', handleSignals: false });
    await expect(anonymous.core.get('/api/v1/namespaces')).rejects.toMatchObject({ code: 401, reason: 'Unauthorized' });
  });

  it('reads a followed text answer line by line, and stops when the loop is left', async () => {
    t.core.logger.info({ event: 'sdk.lines.first' }, 'first');
    const seen: string[] = [];
    for await (const line of backend.core.lines('/kapis/ops.mortise.io/v1alpha1/logs', { query: { tailLines: 1, follow: true } })) {
      seen.push(line);
      if (seen.length === 1) t.core.logger.info({ event: 'sdk.lines.second' }, 'second');
      if (line.includes('sdk.lines.second')) break;
    }
    expect(seen[0]).toContain('sdk.lines.first');
    expect(seen.at(-1)).toContain('sdk.lines.second');
    await expect((async () => {
      for await (const line of backend.core.lines('/kapis/ops.mortise.io/v1alpha1/logs', { query: { tailLines: 'x' } })) void line;
    })()).rejects.toMatchObject({ code: 400, reason: 'BadRequest' });
  });

  /** A GET on a Unix socket: status and body. */
  const getOnSocket = (socketPath: string, path: string, headers: Record<string, string> = {}) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    request({ socketPath, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });

  it('serves on the runtime\'s socket as well as its port, the same checks on both, and removes the socket when closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdk-socket-'));
    const socketPath = join(dir, 'b.sock');
    try {
      // What a killed process of the backend left (a socket file nobody listens on): replaced, not refused.
      const killed = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      await new Promise((r) => killed.once('exit', r));
      expect(existsSync(socketPath)).toBe(true);
      const lines: Array<Record<string, unknown>> = [];
      const b = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, handleSignals: false, socketPath, log: (level, msg, fields) => lines.push({ level, msg, ...fields }) });
      b.router.get('/me', (ctx) => {
        ctx.body = { ...ctx.state.identity, unix: ctx.req.socket.remoteAddress === undefined };
      });
      const s = await b.listen(0, '127.0.0.1');
      expect(s.socketPath).toBe(socketPath);
      expect(lines.find((l) => l.event === 'listening')).toMatchObject({ socketPath });
      expect(await getOnSocket(socketPath, '/healthz')).toMatchObject({ status: 200 });
      expect((await getOnSocket(socketPath, '/me')).status).toBe(401);
      const me = await getOnSocket(socketPath, '/me', { 'X-Mortise-Identity': await forwarded() });
      expect(JSON.parse(me.body)).toEqual({ username: 'alice', groups: ['system:authenticated', 'devs'], unix: true });
      const overTcp = await fetch(`${s.url}/me`, { headers: { 'X-Mortise-Identity': await forwarded() } });
      expect(await overTcp.json()).toMatchObject({ username: 'alice', unix: false });
      await s.close();
      expect(existsSync(socketPath)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves on its port only, and says why, when the socket cannot be made', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const socketPath = join(tmpdir(), 'sdk-no-such-dir', 'b.sock');
    const b = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, handleSignals: false, socketPath, log: (level, msg, fields) => lines.push({ level, msg, ...fields }) });
    const s = await b.listen(0, '127.0.0.1');
    try {
      expect(s.socketPath).toBeUndefined();
      expect(lines.find((l) => l.event === 'socket-unavailable')).toMatchObject({ level: 'warn', path: socketPath, msg: expect.stringContaining('serving on PORT only') });
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('shuts down gracefully: requests in flight finish, new connections are refused', async () => {
    const b = createExtensionBackend({ name: 'sdk-demo', coreUrl: t.url, handleSignals: false });
    let releaseHeld!: () => void;
    const held = new Promise<void>((r) => (releaseHeld = r));
    let arrived!: () => void;
    const arrivedP = new Promise<void>((r) => (arrived = r));
    b.router.get('/hold', async (ctx) => {
      arrived();
      await held;
      ctx.body = { done: true };
    });
    const s = await b.listen(0, '127.0.0.1');
    const inFlight = fetch(`${s.url}/hold`, { headers: { 'X-Mortise-Identity': await forwarded() } });
    await arrivedP;
    const closed = s.close();
    await new Promise((r) => setTimeout(r, 50));
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
    releaseHeld();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
    await closed;
  });

  it('on SIGTERM finishes the request in flight, runs onShutdown and exits 0', async () => {
    const script = `
      import { createExtensionBackend } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const b = createExtensionBackend({ onShutdown: () => console.log('shutdown hook') });
      b.router.get('/hold', async (ctx) => {
        console.log('holding');
        await new Promise((r) => setTimeout(r, 300));
        ctx.body = { user: ctx.state.identity.username };
      });
      const s = await b.listen();
      console.log(s.url);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, MORTISE_EXTENSION: 'sdk-demo', MORTISE_CORE_URL: t.url, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    const waitFor = (line: (l: string) => boolean) => new Promise<string>((resolve) => {
      const check = () => {
        const hit = lines.find(line);
        if (hit) resolve(hit);
        else child.stdout.once('data', check);
      };
      check();
    });
    let buffered = '';
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const url = await waitFor((l) => l.startsWith('http://'));
    const inFlight = fetch(`${url}/hold`, { headers: { 'X-Mortise-Identity': await forwarded() } });
    await waitFor((l) => l === 'holding');
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ user: 'alice' });
    expect(await exited).toBe(0);
    expect(lines).toContain('shutdown hook');
  });

  it('takes its settings from the environment the runtime sets', async () => {
    const names = ['MORTISE_EXTENSION', 'MORTISE_CORE_URL', 'MORTISE_TOKEN', 'MORTISE_CONFIG'];
    const saved = names.map((n) => process.env[n]);
    try {
      Object.assign(process.env, { MORTISE_EXTENSION: 'from-env', MORTISE_CORE_URL: t.url, MORTISE_TOKEN: t.token, MORTISE_CONFIG: '{"greeting":"Hi"}' });
      const b = createExtensionBackend({ handleSignals: false });
      expect(b.name).toBe('from-env');
      expect(b.config).toEqual({ greeting: 'Hi' });
      expect(((await b.core.get('/apis/iam.mortise.io/v1alpha1/users/admin')) as { metadata: { name: string } }).metadata.name).toBe('admin');
      delete process.env.MORTISE_EXTENSION;
      expect(() => createExtensionBackend()).toThrow(/MORTISE_EXTENSION/);
    } finally {
      names.forEach((n, i) => {
        if (saved[i] === undefined) delete process.env[n];
        else process.env[n] = saved[i];
      });
    }
  });
});
