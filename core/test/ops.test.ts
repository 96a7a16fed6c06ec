import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, call, login, startTestCore, workspace, type TestCore } from './support/test-core.js';
import { generatedPasswords, startChildCore } from './support/child-core.js';

// Health, metrics, graceful shutdown and logs: what an operator relies on.

const ws = '/apis/tenant.mortise.io/v1alpha1/workspaces';

/** Opens a fresh TCP connection: resolves 'connected' or the error code (e.g. ECONNREFUSED). */
const tryConnect = (host: string, port: number) =>
  new Promise<string>((resolve) => {
    const s = connect({ host, port }, () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });

describe('operations', () => {
  let t: TestCore;
  let closed = false;
  const dirs: string[] = [];

  beforeAll(async () => {
    t = await startTestCore();
  });
  afterAll(async () => {
    if (!closed) await t?.close();
    // The graceful-shutdown test closed the core itself: its data dir is still to go.
    else if (t?.dataDir) rmSync(t.dataDir, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  describe('health', () => {
    for (const path of ['/healthz', '/livez', '/readyz']) {
      it(`${path} answers anonymous callers 200 ok`, async () => {
        const res = await fetch(`${t.url}${path}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
        expect(await res.text()).toBe('ok');
        // A stale token does not get in the way.
        const stale = await fetch(`${t.url}${path}`, { headers: { authorization: 'Bearer not.a.token' } });
        expect(stale.status).toBe(200);
      });
    }
  });

  describe('metrics', () => {
    it('need authentication', async () => {
      const anon = await fetch(`${t.url}/metrics`);
      expect(anon.status).toBe(401);
      expect(await anon.text()).not.toContain('mortise_http_requests_total');
    });

    it('count requests by route pattern, never by object name or other client text', async () => {
      const secretName = 'zz-metrics-object-name';
      expect((await t.api(ws, { method: 'POST', json: workspace(secretName) })).status).toBe(201);
      expect((await t.api(`${ws}/${secretName}`)).status).toBe(200);
      expect((await t.api(`${ws}/${secretName}/status`)).status).toBe(200);
      // Client-chosen text in places a label could be built from.
      expect((await t.api(`${ws}/${secretName}/zz-made-up-subresource`)).status).toBe(404);
      expect((await t.api('/apis/zz-made-up-group.example/v1/zz-made-up-resource')).status).toBe(404);
      expect((await t.api('/api/v1/zz-made-up-core-resource')).status).toBe(404);
      expect((await fetch(`${t.url}/apis/zz-anon-group.example/v1/zz-anon-resource/x`)).status).toBe(401);
      expect((await fetch(`${t.url}/kapis/zz-anon-kapis.example/v1/zz-anon-kapis-resource`)).status).toBe(401);
      expect((await fetch(`${t.url}/zz-anon-random-path`)).status).toBe(401);
      expect((await t.api('/zz-admin-random-path')).status).toBe(404);

      const res = await t.api('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      const samples = text.split('\n').filter((l) => l.startsWith('mortise_http_requests_total{'));
      expect(samples.length).toBeGreaterThan(0);
      const labelsOf = (l: string) => Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      const routes = new Set(samples.map((l) => labelsOf(l).route!));
      expect(routes).toContain('apis/tenant.mortise.io/workspaces');
      expect(routes).toContain('apis/tenant.mortise.io/workspaces/status');
      const wsGets = samples.filter((l) => {
        const m = labelsOf(l);
        return m.route === 'apis/tenant.mortise.io/workspaces' && m.method === 'GET' && m.code === '200';
      });
      expect(wsGets).toHaveLength(1);
      // Refusals and misses are counted with their real codes.
      const codes = new Set(samples.map((l) => labelsOf(l).code));
      expect(codes).toContain('401');
      expect(codes).toContain('404');
      expect(codes).toContain('201');
      expect(text).not.toContain(secretName);
      expect(text).not.toContain('zz-');
      for (const l of samples) {
        const m = labelsOf(l);
        expect(Object.keys(m).sort()).toEqual(['code', 'method', 'route']);
        expect(m.code).toMatch(/^\d{3}$/);
      }
      expect(text).toContain('mortise_http_request_duration_seconds_bucket{');
      expect(text).toMatch(/^mortise_open_watches \d+$/m);
    });
  });

  describe('logs', () => {
    it('main.js writes one JSON object per line when stdout is not a terminal, the password once', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mortise-ops-'));
      dirs.push(dir);
      const c = await startChildCore({ MORTISE_DATA_DIR: dir, MORTISE_ADMIN_PASSWORD: undefined, MORTISE_LOG_LEVEL: 'debug' });
      let code: number | string;
      try {
        const [password] = generatedPasswords(c.stdout());
        expect(password, c.stdout()).toBeDefined();
        const token = await login(c.url, 'admin', password!);
        expect((await call(c.url, token, ws, { method: 'POST', json: workspace('logged') })).status).toBe(201);
        expect((await call(c.url, undefined, ws)).status).toBe(401);
        expect((await fetch(`${c.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: 'wrong-password' }) })).status).toBe(400);
      } finally {
        code = await c.stop('SIGTERM');
      }
      expect(code).toBe(0);
      const lines = c.stdout().split('\n').filter((l) => l.length > 0);
      expect(lines.length).toBeGreaterThan(5);
      const entries = lines.map((l, i) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new Error(`stdout line ${i + 1} is not JSON: ${l}`);
        }
      });
      for (const e of entries) {
        expect(typeof e.level).toBe('string');
        expect(typeof e.time).toBe('string');
        expect(typeof e.msg).toBe('string');
      }
      const events = entries.map((e) => e.event);
      expect(events.filter((e) => e === 'bootstrap.password')).toHaveLength(1);
      expect(events).toContain('core.listening');
      expect(events).toContain('core.stopped');
      expect(events).toContain('login.failed');
      expect(entries.some((e) => e.event === 'request' && e.path === ws && e.status === 201)).toBe(true);
      // The generated password appears exactly once; the wrong one typed at login never.
      const password = generatedPasswords(c.stdout())[0]!;
      expect(c.stdout().split(password).length - 1).toBe(1);
      expect(c.stdout()).not.toContain('wrong-password');
      expect(c.stderr()).toBe('');
    });
  });

  describe('misbehaving connections', () => {
    it('a connection reset at any point (before its first byte, mid-request, mid-handshake) leaves the core up', async () => {
      const u = new URL(t.url);
      const reset = (first?: Buffer) =>
        new Promise<void>((resolve) => {
          const s = connect({ host: u.hostname, port: Number(u.port) }, () => {
            if (first) s.write(first);
            setTimeout(() => {
              s.resetAndDestroy();
              resolve();
            }, 50);
          });
          s.on('error', () => resolve());
        });
      await reset();
      await reset(Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
      await reset(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01]));
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(`${t.url}/healthz`);
      expect(res.status).toBe(200);
      expect((await t.api(ws)).status).toBe(200);
    });
  });

  // Last: this closes the file's core.
  describe('graceful shutdown', () => {
    it('finishes in-flight requests, ends watches cleanly, refuses new connections, closes the database', async () => {
      const u = new URL(t.url);
      // A watch that is open when shutdown starts.
      const watch = await t.api(`${ws}?watch=1`);
      expect(watch.status).toBe(200);
      const reader = watch.body!.getReader();
      const watchEnded = (async () => {
        let text = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return text;
          text += Buffer.from(value).toString();
        }
      })();

      // An in-flight create whose body is still arriving when shutdown starts.
      const body = JSON.stringify(workspace('in-flight', {}, { description: 'sent across the shutdown' }));
      let req: ClientRequest;
      const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
        req = httpRequest({
          host: u.hostname, port: u.port, method: 'POST', path: ws,
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        }, (res: IncomingMessage) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      req!.write(body.slice(0, 20));
      // A connection that never sends anything: it holds no request, so it must not hold up shutdown.
      const silent = connect({ host: u.hostname, port: Number(u.port) });
      const silentClosed = new Promise<void>((resolve) => silent.on('close', () => resolve()));
      silent.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 200));

      let closeDone = false;
      const closing = t.core.close().then(() => (closeDone = true));
      closed = true;

      // The watch ends as a clean end of stream, not an error.
      const watchText = await watchEnded;
      expect(watchText).toContain('"type":"ADDED"');

      // New connections are refused while the in-flight request is still running.
      expect(await tryConnect(u.hostname, Number(u.port))).toBe('ECONNREFUSED');
      expect(closeDone).toBe(false);

      req!.end(body.slice(20));
      const done = await response;
      expect(done.status, done.text).toBe(201);
      expect(JSON.parse(done.text).metadata.name).toBe('in-flight');
      const started = Date.now();
      await closing;
      expect(closeDone).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
      await silentClosed;

      // The database is closed: nothing more is written.
      const def = t.core.kinds.byGroupResource('tenant.mortise.io', 'workspaces')!;
      await expect(t.core.service.create(def, '', workspace('after-close'), {})).rejects.toThrow();
      expect(await tryConnect(u.hostname, Number(u.port))).toBe('ECONNREFUSED');
    });
  });
});
