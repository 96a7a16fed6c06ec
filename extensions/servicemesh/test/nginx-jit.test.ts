import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshState } from '../src/mesh-state.js';
import { findNginx, NginxDataPlane } from '../src/nginx-plane.js';
import { many, sendThrough } from './support/mesh-client.js';

// The nginx plane's request path stays compiled by LuaJIT. A function the compiler gives up on
// (its trace grew past LuaJIT's limit, say) runs in the interpreter for every request from then
// on: route() did so for requests that came without a traceparent, at 1.5 times the cost of the
// whole request (docs/benchmarks.md), and no other test could see it. Requests of each kind the
// plane meets (a trace to start, unsampled as most are under load; an unsampled and a sampled
// trace to continue), then the compiler's own account, read from nginx (jitReport).

const freePort = () => new Promise<number>((resolve) => {
  const s = netServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as AddressInfo;
    s.close(() => resolve(port));
  });
});

describe('the nginx data plane under LuaJIT', () => {
  const state = new MeshState();
  let plane: NginxDataPlane;
  let dir = '';
  let url = '';
  let upstream: Server;
  const kinds: Record<string, Record<string, string>> = {
    'a request without a trace': {},
    'a request of an unsampled trace': { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' },
    'a request of a sampled trace': { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    // As a browser's: a dozen more headers for the header scan to go through.
    'a request with a browser\'s headers': Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`x-browser-${i}`, 'value'])),
  };
  const sendAll = async (n: number) => {
    for (const headers of Object.values(kinds)) {
      const answers = await many(n, () => sendThrough(url, 'api.shop', headers, { path: '/items' }), 4);
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    }
  };

  beforeAll(async () => {
    if (!findNginx()) throw new Error('these tests run the real nginx data plane and no nginx binary was found: apt-get install nginx');
    upstream = createServer((_q, s) => s.end('{"ok":true}'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'mortise-mesh-jit-'));
    // No trace the plane starts is sampled: the path most requests take under load.
    plane = new NginxDataPlane({ state, dir, traceCapacity: 1_000, log: () => {}, traceSamplesPerSecond: 0 });
    url = await plane.listen(await freePort());
    const meta = { name: 'api', namespace: 'shop' };
    state.apply('MeshService', 'ADDED', { metadata: meta, spec: { versions: [{ name: 'v1', endpoints: [`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`] }] } });
    // A route with retries and a timeout, as the benchmark's: the jump to the retry location, the per-try timeouts.
    state.apply('TrafficRule', 'ADDED', { metadata: meta, spec: { service: 'api', routes: [{ destinations: [{ version: 'v1', weight: 100 }], retries: { attempts: 2, perTryTimeoutMs: 5000 }, timeoutMs: 10_000 }] } } as never);
    await plane.synced();
  }, 30_000);

  afterAll(async () => {
    await plane?.close();
    await new Promise((r) => upstream?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('compiles route(), balance() and log() for every kind of request, none of them too long for LuaJIT', async () => {
    // LuaJIT compiles a function after ~100 calls and a side branch after a few dozen exits; an
    // attempt given up is tried again a few times, then the function is left to the interpreter.
    await sendAll(1_500);
    const warm = await plane.jitReport();
    for (const name of ['route', 'balance', 'log']) {
      const f = warm.functions[name];
      expect(f?.traces, `${name}: ${JSON.stringify(warm)}`).toBeGreaterThan(0);
      // Given up for its size: what made route() run interpreted (a trace that can never be
      // recorded whole; others, such as a loop met first on its own, are passing).
      expect(Object.keys(f?.reasons ?? {}).filter((why) => /too long|too many|too deep/.test(why)), `${name}: ${JSON.stringify(warm)}`).toEqual([]);
    }
    await sendAll(1_000);
    const after = await plane.jitReport();
    // Nothing on the request path is still being tried and given up on once warm.
    for (const name of ['route', 'balance', 'log']) expect(after.functions[name]?.givenUp, `${name}: ${JSON.stringify(after)}`).toBe(warm.functions[name]?.givenUp);
  }, 60_000);
});
