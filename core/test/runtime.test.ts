import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LineSplitter, lastMeaningfulLine, shorten } from '../src/runtime/log-lines.js';
import { processArgs } from '../src/runtime/pid-file.js';
import { ProcessRuntime, type LocalPackage, type ProcessRuntimeOptions } from '../src/runtime/process-runtime.js';
import type { BackendSpec, BackendStatus } from '../src/runtime/runtime.js';

// ProcessRuntime against real backends (core/test/fixtures/backends/*.mjs): real child
// processes, real HTTP, Node's real permission model.

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(here, 'fixtures', 'backends');
const REPO = resolve(here, '../..');
const SDK = join(REPO, 'extension-sdk');
const ownerJs = join(FIXTURES, 'runtime-owner.mjs');
const distRuntime = resolve(here, '../dist/runtime/process-runtime.js');

const root = mkdtempSync(join(tmpdir(), 'mortise-runtime-'));
let seq = 0;
const freshDir = (name: string) => {
  const d = join(root, `${name}-${++seq}`);
  mkdirSync(d, { recursive: true });
  return d;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Alive and not a zombie. */
const alive = (pid: number) => processArgs(pid) !== undefined;

interface Harness {
  runtime: ProcessRuntime;
  events: Array<BackendStatus & { at: number }>;
  logLines: Array<Record<string, unknown>>;
}

const runtimes: ProcessRuntime[] = [];

function harness(opts: Partial<ProcessRuntimeOptions> = {}): Harness {
  const logLines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) logLines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const runtime = new ProcessRuntime({ logger: pino({ level: 'trace' }, sink), healthIntervalMs: 50, stopGraceMs: 2000, locatePackage: locateFixture, ...opts });
  runtimes.push(runtime);
  const events: Harness['events'] = [];
  runtime.on('status', (s) => events.push({ ...s, at: Date.now() }));
  return { runtime, events, logLines };
}

/** A fixture's spec, with where its package is on disk (what the runtime's locatePackage answers for it here). */
type FixtureSpec = BackendSpec & LocalPackage;
const fixtures = new Map<string, LocalPackage>();
const locateFixture = async (s: BackendSpec): Promise<LocalPackage> => {
  const local = fixtures.get(s.id);
  if (!local) throw new Error(`no package ${s.extension} ${s.version}`);
  return local;
};

function spec(fixture: string, over: Partial<FixtureSpec> = {}): FixtureSpec {
  const id = over.id ?? `${basename(fixture, '.mjs')}-${++seq}@0.0.1`;
  const s: FixtureSpec = {
    id,
    extension: basename(fixture, '.mjs'),
    version: '0.0.1',
    package: { digest: 'fixture', entry: fixture, url: 'http://127.0.0.1:1/not-fetched' },
    entry: join(over.packageDir ?? FIXTURES, fixture),
    packageDir: FIXTURES,
    dataDir: join(root, 'data', id),
    healthPath: '/healthz',
    env: {},
    ...over,
  };
  fixtures.set(id, { entry: s.entry, packageDir: s.packageDir, dataDir: s.dataDir, ...(s.readOnlyPaths ? { readOnlyPaths: s.readOnlyPaths } : {}) });
  return s;
}

const post = (url: string) => fetch(url, { method: 'POST' }).then((r) => r.json());

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stopAll()));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('ProcessRuntime', () => {
  describe('start and readiness', () => {
    it('starts a backend that becomes Ready on its own port, with a minimal env, its package as cwd and confined', async () => {
      const { runtime, events } = harness();
      process.env.MORTISE_TEST_CORE_SECRET = 'the core keeps this to itself';
      const s = spec('basic.mjs', { env: { MORTISE_CORE_URL: 'http://127.0.0.1:8080', GREETING: 'hej' } });
      try {
        const started = await runtime.start(s);
        expect(started.state).toBe('Starting');
        expect(started.pid).toBeGreaterThan(0);
        expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        const ready = await runtime.waitReady(s.id, 10_000);
        expect(ready).toMatchObject({ id: s.id, state: 'Ready', restarts: 0, pid: started.pid, url: started.url });
        expect(ready.message).toBeUndefined();

        const info = (await (await fetch(`${ready.url}/env`)).json()) as {
          env: Record<string, string>; cwd: string; pid: number; execArgv: string[]; confined: boolean;
        };
        expect(info.pid).toBe(started.pid);
        expect(info.env.PORT).toBe(new URL(ready.url!).port);
        expect(info.env.HOST).toBe('127.0.0.1');
        expect(info.env.MORTISE_DATA_DIR).toBe(s.dataDir);
        expect(info.env.HOME).toBe(s.dataDir);
        expect(info.env.NODE_ENV).toBe('production');
        expect(info.env.GREETING).toBe('hej');
        expect(info.env.MORTISE_CORE_URL).toBe('http://127.0.0.1:8080');
        expect(info.env.MORTISE_TEST_CORE_SECRET).toBeUndefined();
        const allowedKeys = new Set(['PATH', 'HOME', 'NODE_ENV', 'TZ', 'PORT', 'HOST', 'MORTISE_DATA_DIR', 'GREETING', 'MORTISE_CORE_URL', 'MORTISE_SOCKET']);
        expect(Object.keys(info.env).filter((k) => !allowedKeys.has(k))).toEqual([]);
        expect(realpathSync(info.cwd)).toBe(realpathSync(FIXTURES));
        expect(info.confined).toBe(true);
        // Each path its own flag (Node 20.20 no longer reads comma-separated lists).
        expect(info.execArgv).toContain(`--allow-fs-write=${s.dataDir}`);
        expect(info.execArgv).toContain(`--allow-fs-read=${FIXTURES}`);
        expect(info.execArgv.filter((a) => a.startsWith('--allow-fs-') && a.includes(','))).toEqual([]);
        expect(existsSync(s.dataDir)).toBe(true);

        expect(events.filter((e) => e.id === s.id).map((e) => e.state)).toEqual(['Starting', 'Ready']);
        expect(runtime.list().map((x) => x.id)).toEqual([s.id]);
      } finally {
        delete process.env.MORTISE_TEST_CORE_SECRET;
      }
    });

    it('start is idempotent per id; the same id with another spec replaces the running process', async () => {
      const { runtime } = harness();
      const s = spec('basic.mjs');
      const first = await runtime.start(s);
      await runtime.waitReady(s.id, 10_000);
      const again = await runtime.start({ ...s, env: {} });
      expect(again).toMatchObject({ state: 'Ready', pid: first.pid, url: first.url });

      const replaced = await runtime.start({ ...s, env: { CHANGED: '1' } });
      expect(replaced.pid).not.toBe(first.pid);
      expect(alive(first.pid!)).toBe(false);
      // The old one was stopped gracefully.
      expect(existsSync(join(s.dataDir, 'sigterm'))).toBe(true);
      const ready = await runtime.waitReady(s.id, 10_000);
      const info = (await (await fetch(`${ready.url}/env`)).json()) as { env: Record<string, string> };
      expect(info.env.CHANGED).toBe('1');
      expect(runtime.list()).toHaveLength(1);
    });

    it('waitReady gives up after its timeout with the reason', async () => {
      const { runtime } = harness();
      const s = spec('never-ready.mjs');
      await runtime.start(s);
      // Once it listens, the status says what the health path answers.
      await until('a health answer', () => runtime.status(s.id)?.message?.includes('503'));
      const t0 = Date.now();
      const err = await runtime.waitReady(s.id, 400).then(() => undefined, (e: Error) => e);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
      expect(err?.message).toMatch(/not ready within 400 ms/);
      expect(err?.message).toMatch(/state Starting/);
      expect(err?.message).toContain('GET /healthz answered 503: warming up');
      expect(runtime.status(s.id)?.state).toBe('Starting');
    });

    it('a container backend (an image, no package) is Failed: processes cannot run images, and the reason says where they run', async () => {
      const { runtime } = harness();
      const { package: _none, ...s } = spec('basic.mjs', { image: 'registry.example.com/shop:1.0.0' });
      await expect(runtime.start(s)).rejects.toThrow(/image registry\.example\.com\/shop:1\.0\.0 needs a container runtime.*MORTISE_RUNTIME=kubernetes/);
      expect(runtime.status(s.id)).toMatchObject({ state: 'Failed', extension: 'basic', version: '0.0.1' });
    });

    it('a package the runtime cannot find on this machine is Failed with the reason', async () => {
      const { runtime } = harness({ locatePackage: async (p) => { throw new Error(`${p.extension} ${p.version} has digest ${p.package!.digest}, not the one asked for`); } });
      const s = spec('basic.mjs');
      await expect(runtime.start(s)).rejects.toThrow(/its package could not be found: basic 0\.0\.1 has digest fixture/);
      expect(runtime.status(s.id)?.state).toBe('Failed');
    });

    it('a backend that cannot start is Failed with the reason, and waitReady says so at once', async () => {
      const { runtime } = harness();
      const s = spec('no-such-backend.mjs');
      await expect(runtime.start(s)).rejects.toThrow(/does not exist/);
      expect(runtime.status(s.id)).toMatchObject({ state: 'Failed', message: expect.stringContaining('does not exist') });
      await expect(runtime.waitReady(s.id, 5000)).rejects.toThrow(/is Failed: entry .* does not exist/);
      await expect(runtime.waitReady('never-started', 5000)).rejects.toThrow(/not known/);

      const outside = spec('basic.mjs', { entry: join(REPO, 'package.json') });
      await expect(runtime.start(outside)).rejects.toThrow(/outside the package directory/);

      // A broken spec for a running id leaves the running backend alone.
      const good = spec('basic.mjs');
      const { pid } = await runtime.start(good);
      await runtime.waitReady(good.id, 10_000);
      await expect(runtime.start({ ...good, healthPath: 'healthz' })).rejects.toThrow(/healthPath must start with/);
      expect(runtime.status(good.id)).toMatchObject({ state: 'Ready', pid });
    });

    it('a backend never Ready within startupTimeoutMs is killed and restarted', async () => {
      const { runtime, events } = harness({ startupTimeoutMs: 2000, backoff: { baseMs: 50 } });
      const s = spec('never-ready.mjs');
      const started = Date.now();
      const first = await runtime.start(s);
      const restarting = await until('Restarting', () => events.find((e) => e.id === s.id && e.state === 'Restarting'));
      expect(restarting.message).toBe('not ready within 2000 ms (GET /healthz answered 503: warming up)');
      expect(restarting.at - started).toBeGreaterThanOrEqual(2000);
      expect(restarting.nextRestartAt).toBeDefined();
      expect(alive(first.pid!)).toBe(false);
      const second = await until('a second process', () => {
        const st = runtime.status(s.id);
        return st?.state === 'Starting' && st.pid !== undefined && st.pid !== first.pid && st;
      });
      expect(second.restarts).toBe(1);
      const err = await runtime.waitReady(s.id, 200).then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(/last exit: not ready within 2000 ms/);
    });

    it('retries at once on another port when the backend dies of EADDRINUSE before it is Ready', async () => {
      const { runtime, events } = harness({ backoff: { baseMs: 30_000 } });
      const s = spec('port-clash.mjs');
      const first = await runtime.start(s);
      const ready = await runtime.waitReady(s.id, 8000);
      expect(ready.restarts).toBe(1);
      expect(ready.url).not.toBe(first.url);
      const restarting = events.find((e) => e.state === 'Restarting')!;
      expect(restarting.message).toMatch(/exited with code 1: Error: listen EADDRINUSE/);
      expect(restarting.message).toMatch(/retrying on another port/);
      expect(readFileSync(join(s.dataDir, 'clashed'), 'utf8')).toBe(new URL(first.url!).port);
    });
  });

  describe('crashes and backoff', () => {
    it('restarts a crashing backend with growing backoff; the status says why', async () => {
      const { runtime, events } = harness({ backoff: { baseMs: 100, maxMs: 10_000 } });
      const s = spec('crash.mjs');
      await runtime.start(s);
      await until('3 restarts', () => (runtime.status(s.id)?.restarts ?? 0) >= 3 && runtime.status(s.id)?.state === 'Restarting', 15_000);
      await runtime.stop(s.id);

      const mine = events.filter((e) => e.id === s.id);
      const restarting = mine.filter((e) => e.state === 'Restarting');
      expect(restarting.length).toBeGreaterThanOrEqual(4);
      // From the third start that ends the same way, the status says it is crash-looping.
      restarting.forEach((r, n) => {
        expect(r.message).toBe(n < 2 ? 'exited with code 3: fatal: the widget store is empty'
          : `crash-looping: ${n + 1} starts ended the same way before it was ready: exited with code 3: fatal: the widget store is empty`);
        expect(r.crashLooping ?? false).toBe(n >= 2);
        expect(r.pid).toBeUndefined();
      });
      // nextRestartAt is baseMs·2^n after the crash: 100, 200, 400, 800 ms.
      const delays = restarting.slice(0, 4).map((r) => Date.parse(r.nextRestartAt!) - r.at);
      delays.forEach((d, n) => {
        expect(d).toBeGreaterThanOrEqual(100 * 2 ** n - 15);
        expect(d).toBeLessThanOrEqual(100 * 2 ** n + 15);
      });
      // ... and the next process really starts no earlier than that.
      for (let n = 0; n < 3; n++) {
        const next = mine.find((e) => e.state === 'Starting' && e.at > restarting[n]!.at)!;
        expect(next.at - restarting[n]!.at).toBeGreaterThanOrEqual(100 * 2 ** n - 5);
        expect(next.restarts).toBe(n + 1);
      }
      const runs = readFileSync(join(s.dataDir, 'runs'), 'utf8').trim().split('\n');
      expect(runs.length).toBe(runtime.status(s.id)!.restarts + 1);
      expect(runtime.status(s.id)?.state).toBe('Stopped');
      // The crash output is in its logs.
      expect((await runtime.logs(s.id)).lines.filter((l) => l.line === 'fatal: the widget store is empty').length).toBe(runs.length);
    });

    it('waitReady gives up as soon as a backend crashes the same way on every start, saying so', async () => {
      const { runtime } = harness({ backoff: { baseMs: 50, maxMs: 1000 } });
      const s = spec('crash.mjs');
      await runtime.start(s);
      const err = await runtime.waitReady(s.id, 60_000).then(() => undefined, (e: Error) => e);
      expect(err?.message).toBe(`backend ${s.id} is crash-looping: 3 starts ended the same way before it was ready: exited with code 3: fatal: the widget store is empty`);
      expect(runtime.status(s.id)).toMatchObject({ state: 'Restarting', crashLooping: true, restarts: 2 });
    });

    it('caps the backoff at maxMs', async () => {
      const { runtime, events } = harness({ backoff: { baseMs: 60, maxMs: 150 } });
      const s = spec('crash.mjs');
      await runtime.start(s);
      await until('4 crashes', () => events.filter((e) => e.state === 'Restarting').length >= 4, 15_000);
      await runtime.stop(s.id);
      const delays = events.filter((e) => e.state === 'Restarting').slice(0, 4).map((r) => Date.parse(r.nextRestartAt!) - r.at);
      expect(delays[0]).toBeLessThan(80);
      expect(delays[1]).toBeGreaterThanOrEqual(105);
      expect(delays[1]).toBeLessThan(140);
      expect(delays[2]).toBeGreaterThanOrEqual(135);
      expect(delays[2]).toBeLessThanOrEqual(165);
      expect(delays[3]).toBeLessThanOrEqual(165);
    });

    it('resets the backoff once the backend has stayed Ready for resetAfterMs', async () => {
      const { runtime, events } = harness({ backoff: { baseMs: 150, maxMs: 10_000, resetAfterMs: 600 } });
      const s = spec('basic.mjs');
      await runtime.start(s);
      const delayOfNextCrash = async () => {
        const ready = await runtime.waitReady(s.id, 10_000);
        const before = events.length;
        await post(`${ready.url}/crash?code=7`);
        const r = await until('Restarting', () => events.slice(before).find((e) => e.state === 'Restarting'));
        expect(r.message).toBe('exited with code 7: fatal: crash requested with code 7');
        return Date.parse(r.nextRestartAt!) - r.at;
      };
      expect(await delayOfNextCrash()).toBeLessThan(200); // 150
      expect(await delayOfNextCrash()).toBeGreaterThanOrEqual(285); // 300: crashed right after getting Ready
      await runtime.waitReady(s.id, 10_000);
      await sleep(800); // Ready for longer than resetAfterMs
      expect(await delayOfNextCrash()).toBeLessThan(200); // back to 150
      expect(runtime.status(s.id)?.restarts).toBe(2);
    });
  });

  describe('health', () => {
    it('turns Unhealthy after 3 failed checks and Ready again when the health path recovers', async () => {
      const { runtime, events } = harness({ healthIntervalMs: 60 });
      const s = spec('basic.mjs');
      const started = await runtime.start(s);
      const ready = await runtime.waitReady(s.id, 10_000);
      const flippedAt = Date.now();
      await post(`${ready.url}/health?ok=0`);
      const unhealthy = await until('Unhealthy', () => events.find((e) => e.state === 'Unhealthy'));
      expect(unhealthy.at - flippedAt).toBeGreaterThanOrEqual(2 * 60);
      expect(unhealthy.message).toBe('health check failed 3 times in a row: GET /healthz answered 500: database unreachable');
      expect(unhealthy.pid).toBe(started.pid);
      await sleep(200);
      expect(runtime.status(s.id)?.message).toMatch(/failed \d+ times in a row/);

      await post(`${ready.url}/health?ok=1`);
      await until('Ready again', () => runtime.status(s.id)?.state === 'Ready');
      expect(events.map((e) => e.state)).toEqual(['Starting', 'Ready', 'Unhealthy', 'Ready']);
      expect(runtime.status(s.id)).toMatchObject({ restarts: 0, pid: started.pid });
      expect(runtime.status(s.id)?.message).toBeUndefined();
    });
  });

  describe('sockets', () => {
    /** A GET on a Unix socket: its JSON. */
    const getOnSocket = (socketPath: string, path: string) => new Promise<Record<string, unknown>>((resolve, reject) => {
      request({ socketPath, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
      }).on('error', reject).end();
    });

    it('offers each backend a socket in a private directory, and names it in the status once the backend answers there', async () => {
      const { runtime } = harness();
      const a = spec('socket.mjs');
      const b = spec('socket.mjs');
      const plain = spec('basic.mjs');
      await Promise.all([a, b, plain].map((s) => runtime.start(s)));
      const [ra, rb, rp] = await Promise.all([a, b, plain].map((s) => runtime.waitReady(s.id, 10_000)));
      expect(ra!.socketPath).toBeTruthy();
      expect(rb!.socketPath).toBeTruthy();
      expect(ra!.socketPath).not.toBe(rb!.socketPath);
      // Each in a directory of its own (a confined backend may write there and nowhere else of the
      // sockets'), inside the runtime's private one.
      const dir = dirname(dirname(ra!.socketPath!));
      expect(dirname(dirname(rb!.socketPath!))).toBe(dir);
      expect(dirname(ra!.socketPath!)).not.toBe(dirname(rb!.socketPath!));
      for (const d of [dir, dirname(ra!.socketPath!)]) expect(statSync(d).mode & 0o777).toBe(0o700);
      expect(await getOnSocket(ra!.socketPath!, '/who')).toEqual({ path: '/who', unix: true, socket: ra!.socketPath });
      expect(await (await fetch(`${ra!.url}/who`)).json()).toMatchObject({ unix: false });
      // A backend that does not serve on it (anything not built with the SDK) is reached on its port.
      expect(rp!.socketPath).toBeUndefined();
      const env = (await (await fetch(`${rp!.url}/env`)).json()) as { env: Record<string, string> };
      expect(dirname(dirname(env.env.MORTISE_SOCKET!))).toBe(dir);
      // Confined: a backend cannot remove (and so take over) another's socket.
      const other = new URLSearchParams({ path: ra!.socketPath! });
      expect(await (await fetch(`${rb!.url}/unlink?${other}`)).json()).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(await getOnSocket(ra!.socketPath!, '/still')).toMatchObject({ unix: true });

      await runtime.stop(a.id);
      expect(existsSync(dir)).toBe(true);
      await runtime.stop(plain.id);
      await runtime.stop(b.id);
      // Gone with the last backend process.
      expect(existsSync(dir)).toBe(false);
    });

    it('offers none when told not to', async () => {
      const { runtime } = harness({ sockets: false });
      const s = spec('socket.mjs');
      await runtime.start(s);
      const ready = await runtime.waitReady(s.id, 10_000);
      expect(ready.socketPath).toBeUndefined();
      expect(await (await fetch(`${ready.url}/who`)).json()).toMatchObject({ socket: null });
    });
  });

  describe('stop', () => {
    it('stops gracefully with SIGTERM and never restarts afterwards', async () => {
      const { runtime, events } = harness({ stopGraceMs: 5000, backoff: { baseMs: 50 } });
      const s = spec('basic.mjs');
      const { pid } = await runtime.start(s);
      await runtime.waitReady(s.id, 10_000);
      const t0 = Date.now();
      await runtime.stop(s.id);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(existsSync(join(s.dataDir, 'sigterm'))).toBe(true);
      expect(alive(pid!)).toBe(false);
      expect(runtime.status(s.id)).toEqual({ id: s.id, extension: s.extension, version: s.version, state: 'Stopped', restarts: 0 });
      await sleep(300);
      expect(runtime.status(s.id)?.state).toBe('Stopped');
      expect(events.map((e) => e.state)).toEqual(['Starting', 'Ready', 'Stopped']);
      await expect(runtime.waitReady(s.id, 1000)).rejects.toThrow(/is Stopped/);
      await runtime.stop(s.id); // idempotent
      await runtime.stop('unknown'); // harmless

      // Started again after a stop: a fresh process.
      const again = await runtime.start(s);
      expect(again.pid).not.toBe(pid);
      await runtime.waitReady(s.id, 10_000);
    });

    it('kills with SIGKILL a backend that ignores SIGTERM, after the grace period', async () => {
      const { runtime } = harness({ stopGraceMs: 500 });
      const s = spec('stubborn.mjs');
      const { pid } = await runtime.start(s);
      await runtime.waitReady(s.id, 10_000);
      const t0 = Date.now();
      await runtime.stop(s.id);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(490);
      expect(took).toBeLessThan(2500);
      expect(readFileSync(join(s.dataDir, 'sigterm-ignored'), 'utf8').trim().split('\n')).toHaveLength(1);
      expect(alive(pid!)).toBe(false);
      expect(runtime.status(s.id)?.state).toBe('Stopped');
    });

    it('stop during the backoff cancels the restart', async () => {
      const { runtime } = harness({ backoff: { baseMs: 400 } });
      const s = spec('crash.mjs');
      await runtime.start(s);
      await until('Restarting', () => runtime.status(s.id)?.state === 'Restarting');
      await runtime.stop(s.id);
      await sleep(700);
      expect(runtime.status(s.id)).toMatchObject({ state: 'Stopped', restarts: 0 });
      expect(readFileSync(join(s.dataDir, 'runs'), 'utf8').trim().split('\n')).toHaveLength(1);
    });

    it('stopAll stops every backend in parallel', async () => {
      const { runtime } = harness({ stopGraceMs: 600 });
      const specs = [spec('stubborn.mjs'), spec('stubborn.mjs'), spec('stubborn.mjs'), spec('basic.mjs')];
      const pids = [];
      for (const s of specs) pids.push((await runtime.start(s)).pid!);
      await Promise.all(specs.map((s) => runtime.waitReady(s.id, 10_000)));
      const t0 = Date.now();
      await runtime.stopAll();
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(590);
      expect(took).toBeLessThan(1500); // one another: 3 × 600 = 1800
      expect(pids.filter(alive)).toEqual([]);
      expect(runtime.list().map((x) => x.state)).toEqual(['Stopped', 'Stopped', 'Stopped', 'Stopped']);
    });
  });

  describe('logs', () => {
    it('keeps each backend’s lines within its size cap, numbered, and logs them as structured lines', async () => {
      const { runtime, logLines } = harness({ logMaxBytes: 8192 });
      const a = spec('chatty.mjs', { env: { LINES: '300' } });
      const b = spec('basic.mjs');
      await runtime.start(a);
      await runtime.start(b);
      await runtime.waitReady(a.id, 10_000);
      await runtime.waitReady(b.id, 10_000);
      await until('all lines', async () => (await runtime.logs(a.id)).lines.some((l) => l.line === 'partial line'));

      const { lines } = await runtime.logs(a.id);
      // 304 lines written (300 numbered, 2 JSON, 1 on stderr, 1 partial): the newest kept, within the cap, numbered without gaps.
      expect(lines.length).toBeGreaterThan(20);
      expect(lines.length).toBeLessThan(304);
      expect(lines.reduce((n, l) => n + Buffer.byteLength(JSON.stringify(l)) + 1, 0)).toBeLessThanOrEqual(8192);
      expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: lines.length }, (_, i) => 304 - lines.length + 1 + i));
      // stdout and stderr are two pipes: order is kept within a stream.
      expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.line).slice(-4)).toEqual([
        'line 299',
        '{"level":50,"msg":"structured failure","order":42,"user":"alice"}',
        '{"level":"debug","message":"structured detail"}',
        'partial line',
      ]);
      expect(lines[0]!.line).toMatch(/^line \d+$/);
      const stderr = lines.filter((l) => l.stream === 'stderr');
      expect(stderr.map((l) => l.line)).toEqual(['a warning on stderr']);
      expect(lines.every((l) => !Number.isNaN(Date.parse(l.time)))).toBe(true);
      expect((await runtime.logs(a.id, { tail: 2 })).lines.map((l) => l.line)).toEqual(lines.slice(-2).map((l) => l.line));
      expect((await runtime.logs(a.id, { tail: 0 })).lines).toEqual([]);
      expect(await runtime.logs('unknown')).toEqual({ lines: [], dropped: 0 });
      // A reader that stopped at line 10 learns how many lines after it rotated away.
      const after = await runtime.logs(a.id, { afterSeq: 10 });
      expect(after.lines).toEqual(lines);
      expect(after.dropped).toBe(lines[0]!.seq - 11);
      // Separate logs per backend.
      expect((await runtime.logs(b.id)).lines.map((l) => l.line)).toEqual([expect.stringMatching(/^basic backend listening on 127\.0\.0\.1:\d+$/)]);

      // Through pino: one JSON record per line, with the backend's identity and stream.
      const fromA = logLines.filter((l) => l.backend === a.id && l.stream !== undefined);
      expect(fromA.length).toBe(300 + 4);
      expect(fromA.find((l) => l.msg === 'line 7')).toMatchObject({ extension: 'chatty', version: '0.0.1', backend: a.id, stream: 'stdout', level: 30 });
      expect(fromA.find((l) => l.msg === 'a warning on stderr')).toMatchObject({ stream: 'stderr', level: 40 });
      expect(fromA.find((l) => l.msg === 'structured failure')).toMatchObject({
        stream: 'stdout',
        level: 50,
        fields: { level: 50, msg: 'structured failure', order: 42, user: 'alice' },
      });
      expect(fromA.find((l) => l.msg === 'structured detail')).toMatchObject({ level: 20, fields: { message: 'structured detail' } });
      // The runtime's own records carry the identity too.
      expect(logLines.find((l) => l.backend === a.id && l.msg === 'backend ready')).toMatchObject({ extension: 'chatty', version: '0.0.1' });
    });
  });

  describe('permission model', () => {
    it('denies writes outside the data dir, reads outside the package, child processes and workers', async () => {
      const { runtime } = harness();
      const s = spec('sandbox.mjs');
      const outsideDir = freshDir('outside');
      const secret = join(outsideDir, 'secret.txt');
      writeFileSync(secret, 'top secret');
      const ready = (await runtime.start(s), await runtime.waitReady(s.id, 10_000));
      const q = new URLSearchParams({ writeOutside: join(outsideDir, 'pwned.txt'), readOutside: secret });
      const r = (await (await fetch(`${ready.url}/probe?${q}`)).json()) as Record<string, { ok: boolean; code?: string; value?: unknown }>;
      expect(r.writeInside).toEqual({ ok: true });
      expect(r.readInside).toEqual({ ok: true, value: 'x' });
      expect(r.writeOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(existsSync(join(outsideDir, 'pwned.txt'))).toBe(false);
      expect(r.readOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.spawn).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.execSync).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.worker).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      // The core's own files are out of reach too.
      const core = (await (await fetch(`${ready.url}/probe?${new URLSearchParams({ writeOutside: join(REPO, 'pwned'), readOutside: join(REPO, 'package.json') })}`)).json()) as typeof r;
      expect(core.readOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(core.writeOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
    });

    /** The sandbox backend started with `granted`, probed for what it may do outside its own files. */
    const probeGranted = async (granted: Partial<BackendSpec>) => {
      const { runtime } = harness();
      const s = spec('sandbox.mjs', granted);
      const outsideDir = freshDir('outside');
      const secret = join(outsideDir, 'secret.txt');
      writeFileSync(secret, 'top secret');
      const ready = (await runtime.start(s), await runtime.waitReady(s.id, 10_000));
      const q = new URLSearchParams({ writeOutside: join(outsideDir, 'pwned.txt'), readOutside: secret });
      const r = (await (await fetch(`${ready.url}/probe?${q}`)).json()) as Record<string, { ok: boolean; code?: string }>;
      return { runtime, s, ready, r };
    };

    it('lets a backend declared with childProcesses start child processes, and nothing more', async () => {
      const { r } = await probeGranted({ allowChildProcesses: true });
      expect(r.spawn?.ok).toBe(true);
      expect(r.readOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.writeOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.worker).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
    });

    it('lets a backend declared with workerThreads start worker threads that keep its permissions, and nothing more', async () => {
      const { runtime, s, ready, r } = await probeGranted({ allowWorkerThreads: true });
      expect(r.worker?.ok).toBe(true);
      expect(r.workerReadOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.readOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.writeOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.spawn).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      // Its threads do not stop it: they load the module that ends a backend with its core too.
      await new Promise((done) => setTimeout(done, 1000));
      expect((await fetch(`${ready.url}/healthz`)).status).toBe(200);
      expect(runtime.status(s.id)?.pid).toBe(ready.pid);
    });

    it('loads the SDK the installer links into the package, without opening the repository through workspace links', async () => {
      const { runtime, logLines } = harness();
      const pkg = freshDir('pkg');
      writeFileSync(join(pkg, 'sandbox.mjs'), readFileSync(join(FIXTURES, 'sandbox.mjs')));
      mkdirSync(join(pkg, 'node_modules', '@mortise'), { recursive: true });
      symlinkSync(realpathSync(SDK), join(pkg, 'node_modules', '@mortise', 'extension-sdk'));
      const s = spec('sandbox.mjs', { packageDir: pkg });
      await runtime.start(s);
      const ready = await runtime.waitReady(s.id, 10_000);
      // `<repo>/node_modules/@mortise/core` links to `../../core`: for this path the check sees
      // `<repo>/node_modules/@mortise/package.json` (never an allowed directory, whatever the
      // clone is called), the kernel `<repo>/package.json` (built by hand: path.join would
      // normalise the `..` away).
      const viaWorkspaceLink = `${join(REPO, 'node_modules', '@mortise', 'core')}/../package.json`;
      expect(readFileSync(viaWorkspaceLink, 'utf8')).toContain('"workspaces"'); // unconfined, it is the repo's
      const q = new URLSearchParams({ sdk: '1', writeOutside: join(SDK, 'pwned'), readOutside: join(REPO, 'package.json'), readViaLink: viaWorkspaceLink });
      const r = (await (await fetch(`${ready.url}/probe?${q}`)).json()) as Record<string, { ok: boolean; code?: string; value?: unknown }>;
      expect(r.sdk).toEqual({ ok: true, value: 'function' });
      expect(r.readOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.readViaLink).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });
      expect(r.writeOutside).toEqual({ ok: false, code: 'ERR_ACCESS_DENIED' });

      const info = (await (await fetch(`${ready.url}/probe?${new URLSearchParams({ writeOutside: '/nonexistent/x', readOutside: '/nonexistent/y' })}`)).json()) as typeof r;
      expect(info.writeInside).toEqual({ ok: true });
      // The SDK link inside the package is a way out for reads: the runtime says so.
      expect(logLines.find((l) => l.backend === s.id && String(l.msg).startsWith('directory symlinks inside'))).toMatchObject({
        level: 40,
        symlinks: [join(pkg, 'node_modules', '@mortise', 'extension-sdk')],
      });
    });

    it('does not pass NODE_OPTIONS (it could widen the sandbox) to a confined backend', async () => {
      const { runtime } = harness();
      const s = spec('basic.mjs', { env: { NODE_OPTIONS: '--allow-fs-read=/', NODE_V8_COVERAGE: '/tmp/cov', NODE_EXTRA_CA_CERTS: '/etc/ssl/extra.pem', KEEP: '1' } });
      await runtime.start(s);
      const ready = await runtime.waitReady(s.id, 10_000);
      const info = (await (await fetch(`${ready.url}/env`)).json()) as { env: Record<string, string> };
      expect(info.env.NODE_OPTIONS).toBeUndefined();
      expect(info.env.NODE_V8_COVERAGE).toBeUndefined();
      expect(info.env.NODE_EXTRA_CA_CERTS).toBe('/etc/ssl/extra.pem');
      expect(info.env.KEEP).toBe('1');
    });

    it('runs unconfined when the permission model is switched off', async () => {
      const { runtime } = harness({ permissionModel: false });
      const s = spec('sandbox.mjs');
      await runtime.start(s);
      const ready = await runtime.waitReady(s.id, 10_000);
      const outsideDir = freshDir('unconfined');
      const q = new URLSearchParams({ writeOutside: join(outsideDir, 'allowed.txt'), readOutside: join(REPO, 'package.json') });
      const r = (await (await fetch(`${ready.url}/probe?${q}`)).json()) as Record<string, { ok: boolean }>;
      expect(r.writeOutside?.ok).toBe(true);
      expect(r.readOutside?.ok).toBe(true);
    });
  });

  describe('when the core dies', () => {
    const owners: ChildProcess[] = [];
    afterEach(() => {
      for (const o of owners.splice(0)) if (o.exitCode === null && o.signalCode === null) o.kill('SIGKILL');
    });

    /** Starts runtime-owner.mjs and waits for the status line of the backend it started. */
    async function startOwner(stateDir: string, dataDir: string, exitWithCore: boolean): Promise<{ owner: ChildProcess; status: BackendStatus }> {
      expect(existsSync(distRuntime), 'run `npx tsc -b core` first').toBe(true);
      const owner = spawn(process.execPath, [ownerJs, stateDir, dataDir, exitWithCore ? '1' : '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      owners.push(owner);
      let out = '';
      let err = '';
      owner.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      owner.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const line = await until('the owner’s status line', () => (owner.exitCode !== null ? Promise.reject(new Error(`owner exited: ${err}`)) : out.includes('\n') && out.split('\n')[0]), 20_000);
      return { owner, status: JSON.parse(line) as BackendStatus };
    }

    const killAndWait = async (p: ChildProcess) => {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    };

    it('a new runtime on the same stateDir kills the backends a SIGKILLed core left behind', async () => {
      const stateDir = freshDir('state');
      const dataDir = freshDir('orphan-data');
      const { owner, status } = await startOwner(stateDir, dataDir, false);
      expect(status.state).toBe('Ready');
      const recorded = JSON.parse(readFileSync(join(stateDir, 'runtime.pids'), 'utf8')) as Array<{ pid: number; entry: string }>;
      expect(recorded).toEqual([expect.objectContaining({ pid: status.pid, id: 'orphan@0.0.1', entry: join(FIXTURES, 'basic.mjs') })]);

      await killAndWait(owner);
      await sleep(300);
      expect(alive(status.pid!)).toBe(true); // an orphan, still serving
      expect((await fetch(`${status.url}/healthz`)).status).toBe(200);

      // A pid in the file that does not run the recorded entry is left alone.
      const bystander = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
      owners.push(bystander);
      const file = join(stateDir, 'runtime.pids');
      writeFileSync(file, JSON.stringify([...recorded, { pid: bystander.pid, id: 'bystander', entry: join(FIXTURES, 'basic.mjs') }]));

      const { logLines } = harness({ stateDir });
      await until('the orphan is gone', () => !alive(status.pid!), 5000);
      expect(alive(bystander.pid!)).toBe(true);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([]);
      expect(logLines.find((l) => l.msg === 'killed a backend process left running by a previous core')).toMatchObject({ pid: status.pid, backend: 'orphan@0.0.1' });
    });

    it('with exitWithCore (the default) backends terminate themselves when their core dies', async () => {
      const stateDir = freshDir('state');
      const dataDir = freshDir('orphan-data');
      const { owner, status } = await startOwner(stateDir, dataDir, true);
      expect(status.state).toBe('Ready');
      await killAndWait(owner);
      await until('the backend is gone', () => !alive(status.pid!), 5000);
      // It went through its own SIGTERM handler.
      expect(existsSync(join(dataDir, 'sigterm'))).toBe(true);
    });

    it('records running backends in runtime.pids and forgets them when they stop', async () => {
      const stateDir = freshDir('state');
      const { runtime } = harness({ stateDir });
      const s = spec('basic.mjs');
      const { pid } = await runtime.start(s);
      const file = join(stateDir, 'runtime.pids');
      const rec = (JSON.parse(readFileSync(file, 'utf8')) as Array<{ pid: number; startTime?: string }>)[0]!;
      expect(rec.pid).toBe(pid);
      if (process.platform === 'linux') expect(rec.startTime).toMatch(/^\d+$/);
      await runtime.stop(s.id);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([]);
    });
  });
});

describe('log line helpers', () => {
  it('split lines across chunks, multi-byte characters and CRLF, and cut runaway lines', () => {
    const got: string[] = [];
    const sp = new LineSplitter((l) => got.push(l), 8);
    const euro = Buffer.from('€');
    sp.push(Buffer.concat([Buffer.from('ab'), euro.subarray(0, 1)]));
    sp.push(Buffer.concat([euro.subarray(1), Buffer.from('c\r\nnext')]));
    sp.push('\n0123456789abcdefXY');
    sp.end();
    expect(got).toEqual(['ab€c', 'next', '01234567', '89abcdef', 'XY']);
  });

  it('shorten long messages at a word boundary, never mid-word', () => {
    expect(shorten('short enough', 20)).toBe('short enough');
    const long = 'the request carries no X-Mortise-Identity header: extension APIs are reached through the Mortise core';
    const cut = shorten(long, 60);
    expect([...cut].length).toBeLessThanOrEqual(60);
    expect(cut.endsWith('…')).toBe(true);
    expect(long.startsWith(cut.slice(0, -1))).toBe(true);
    expect(long[cut.length - 1]).toMatch(/\W/);
  });

  it('find the line that says why a process died', () => {
    expect(lastMeaningfulLine(['starting', 'fatal: no config', ''])).toBe('fatal: no config');
    expect(lastMeaningfulLine([])).toBeUndefined();
    const dump = [
      'node:events:502', "      throw er; // Unhandled 'error' event", '      ^', '',
      'Error: listen EADDRINUSE: address already in use 127.0.0.1:45679',
      '    at Server.setupListenHandle [as _listen2] (node:net:1908:16)',
      "Emitted 'error' event on Server instance at:",
      '    at emitErrorNT (node:net:1944:8) {',
      "  code: 'EADDRINUSE',", '  port: 45679', '}', '', 'Node.js v20.20.2',
    ];
    expect(lastMeaningfulLine(dump)).toBe('Error: listen EADDRINUSE: address already in use 127.0.0.1:45679');
    expect(lastMeaningfulLine(['file:///x.mjs:1', "throw new TypeError('bad')", '^', '', 'TypeError: bad', '    at file:///x.mjs:1:7', '', 'Node.js v20.20.2'])).toBe('TypeError: bad');
  });
});
