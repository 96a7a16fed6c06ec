import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import type { DataPlaneView } from './dataplane-view.js';
import { Endpoints } from './endpoints.js';
import type { MeshState } from './mesh-state.js';
import { nginxConfig, serviceConfig, type NginxLogLine, type NginxOptions, type ServiceConfig } from './nginx-config.js';
import type { ServiceRouting } from './routing.js';
import { Telemetry } from './telemetry.js';
import { SpanStore, tagOf } from './tracing.js';

// The native data plane: Debian's nginx run by the backend as a child process, its configuration
// generated from the mesh's rules (nginx-config.ts) and reloaded gracefully (SIGHUP: new workers
// take new connections, old ones finish the requests they have) on every change. nginx logs each
// request as a JSON line to a file in its directory, buffered (64 KiB or 100 ms: no write per
// request), which this process follows and turns into the same spans, per-edge telemetry and
// endpoint health as the Node plane records, so topology, traces, metrics and GrayRelease
// analysis read the same either way. The file is rotated (renamed, nginx told to reopen with
// USR1, the rest read, removed) when it passes 64 MiB, so it does not grow.
// Outlier ejection: the consecutive 5xx counted from the log (Endpoints, as the Node plane), the
// ejected endpoint written `down` until its ejection ends.

/** Where the `nginx` binary is, or undefined (PATH and Debian's /usr/sbin, which a user's PATH may lack). */
export function findNginx(path = process.env.PATH ?? '', also = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), ...also]) {
    const candidate = join(dir, 'nginx');
    try {
      if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** The extension's `dataPlane` setting and the nginx found (if any) → the plane to run. */
export function chooseDataPlane(setting: 'node' | 'nginx' | 'auto', nginx: string | undefined): 'node' | 'nginx' {
  if (setting === 'node') return 'node';
  if (nginx) return 'nginx';
  if (setting === 'nginx') throw new Error('dataPlane is "nginx" but no nginx binary was found (apt-get install nginx), or set dataPlane to "node" or "auto"');
  return 'node';
}

export interface NginxPlaneDeps {
  state: MeshState;
  /** nginx's prefix: configuration, pid, temp dirs and error log (under the extension's data dir). */
  dir: string;
  traceCapacity: number;
  log: (msg: string) => void;
  nginx?: string;
  workerProcesses?: number | 'auto';
}

export class NginxDataPlane implements DataPlaneView {
  readonly telemetry_ = new Telemetry();
  readonly spans: SpanStore;
  readonly endpoints_ = new Endpoints();
  readonly nginx: string;
  /** Why a service's latest rules are not in nginx (its last good configuration stays). */
  readonly problems = new Map<string, string>();
  /** Log lines that were not JSON. */
  unreadLines = 0;
  private child?: ChildProcess;
  private log?: LogFollower;
  private follow?: NodeJS.Timeout;
  private delay?: Server;
  private port = 0;
  private host = '127.0.0.1';
  private generation = 0;
  /** Of the configuration nginx has loaded. */
  private loaded = 0;
  private readonly good = new Map<string, ServiceConfig>();
  /** `service.namespace` → the number its configuration's names carry (s<N>_…). */
  private readonly ids = new Map<string, number>();
  private pending?: NodeJS.Timeout;
  private applying: Promise<void> = Promise.resolve();
  private ejectionTimer?: NodeJS.Timeout;
  /** `host:port` → endpoint URL, of every version's endpoints. */
  private addresses = new Map<string, string>();
  private stopped = false;
  /** Workers of earlier configurations, until they are shutting down (their idle connections closed). */
  private retiring: number[] = [];
  /** When the old workers cannot be seen: until when synced() waits after the new generation answers. */
  private blindUntil = 0;

  constructor(private readonly d: NginxPlaneDeps) {
    const nginx = d.nginx ?? findNginx();
    if (!nginx) throw new Error('dataPlane "nginx": no nginx binary found (apt-get install nginx), or use dataPlane "node"');
    this.nginx = nginx;
    this.spans = new SpanStore(d.traceCapacity);
    mkdirSync(d.dir, { recursive: true });
    d.state.onChange(() => this.schedule());
  }

  private get conf(): string {
    return join(this.d.dir, 'nginx.conf');
  }

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    this.port = port;
    this.host = host;
    this.log = new LogFollower(join(this.d.dir, 'access.log'), (line) => this.ingest(line));
    this.follow = setInterval(() => this.readLog(), 50);
    this.follow.unref();
    this.delay = createServer((req, res) => {
      // The fault delay: wait, then hand the request back to nginx's location that proxies it.
      const u = new URL(req.url ?? '/', 'http://x');
      setTimeout(() => {
        res.writeHead(200, { 'x-accel-redirect': u.searchParams.get('to') ?? '/' });
        res.end();
      }, Number(u.searchParams.get('ms') ?? 0));
    });
    await new Promise<void>((r) => this.delay!.listen(0, '127.0.0.1', r));
    await this.stopLeftover();
    // An earlier run's lines are not this run's telemetry.
    for (const f of ['access.log', 'access.log.old']) {
      try {
        unlinkSync(join(this.d.dir, f));
      } catch {
        // none
      }
    }
    await this.apply();
    const errors = join(this.d.dir, 'error.log');
    this.child = spawn(this.nginx, ['-p', this.d.dir, '-e', errors, '-c', this.conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (b: Buffer) => this.d.log(`nginx: ${b.toString().trim()}`));
    this.child.once('exit', (code, signal) => {
      if (!this.stopped) this.d.log(`nginx exited (${code ?? signal}); see ${errors}`);
    });
    // The master stops its workers on SIGTERM (on SIGKILL they would be left serving).
    const kill = () => this.child?.kill('SIGTERM');
    process.once('exit', kill);
    for (let i = 0; ; i++) {
      if (this.child.exitCode !== null) throw new Error(`nginx exited with ${this.child.exitCode}: ${readFileSync(errors, 'utf8').slice(-2000)}`);
      if ((await this.answeredGeneration()) === this.loaded) break;
      if (i > 400) throw new Error(`nginx did not start: ${readFileSync(errors, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return `http://${host}:${port}`;
  }

  /** An nginx of an earlier backend of this data dir still running (the backend was killed): stopped. */
  private async stopLeftover(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.d.dir, 'nginx.pid'), 'utf8').trim());
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.conf)) return;
    } catch {
      return;
    }
    this.d.log(`stopping the nginx (pid ${pid}) an earlier backend left running`);
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The generation nginx's workers serve now (a new connection reaches the newest workers). */
  private answeredGeneration(): Promise<number | undefined> {
    return new Promise((resolve) => {
      const req = request({ host: this.host, port: this.port, path: '/.mesh/generation', headers: { host: '127.0.0.1', connection: 'close' }, timeout: 2000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 ? Number(body) : undefined));
      });
      req.on('error', () => resolve(undefined));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  private schedule(): void {
    if (this.pending || !this.child) return;
    // Changes arriving together (a list, a release step) make one reload.
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.applying = this.applying.then(() => this.apply()).catch((e: unknown) => this.d.log(`nginx configuration not applied: ${(e as Error).message}`));
    }, 20);
  }

  private options(generation: number): NginxOptions {
    const now = Date.now();
    const ejected = new Set(this.endpoints_.entries().filter(([, h]) => h.ejectedUntil > now).map(([u]) => u));
    return { dir: this.d.dir, port: this.port, host: this.host, logFile: join(this.d.dir, 'access.log'), delayUrl: `http://127.0.0.1:${(this.delay!.address() as AddressInfo).port}`, ejected, generation, workerProcesses: this.d.workerProcesses };
  }

  /** Writes the configuration of the rules in force; a service nginx refuses keeps its last good part. */
  private async apply(): Promise<void> {
    const generation = ++this.generation;
    const o = this.options(generation);
    const routings = this.d.state.all().sort((a, b) => `${a.service}.${a.namespace}`.localeCompare(`${b.service}.${b.namespace}`));
    const keys = routings.map((r) => `${r.service}.${r.namespace}`);
    const parts = new Map<string, ServiceConfig>();
    const fresh = new Set<string>();
    this.addresses = new Map();
    routings.forEach((r) => {
      const key = `${r.service}.${r.namespace}`;
      // A service's names in the configuration stay its own for the life of this process, so a
      // last good part kept beside others' new ones never shares a name with them.
      let i = this.ids.get(key);
      if (i === undefined) this.ids.set(key, (i = this.ids.size));
      for (const urls of r.versions.values()) for (const u of urls) this.addresses.set(new URL(u).host, u);
      try {
        parts.set(key, serviceConfig(r, i, o));
        fresh.add(key);
      } catch (e) {
        this.refuse(key, (e as Error).message);
      }
    });
    let text = this.compose(keys, parts, fresh, o);
    let problem = this.test(text);
    if (problem) {
      // Find the services nginx refuses, one at a time, and keep their last good parts.
      for (const key of fresh) {
        const good = this.good.get(key);
        // Unchanged since nginx last took it (the generation comment aside).
        const same = (c: ServiceConfig | undefined) => c && `${c.http.replace(/^#.*\n/, '')}${c.server}`;
        if (good && same(good) === same(parts.get(key))) continue;
        const alone = this.test(nginxConfig([parts.get(key)!], o));
        if (alone) {
          fresh.delete(key);
          this.refuse(key, alone);
        }
      }
      text = this.compose(keys, parts, fresh, o);
      problem = this.test(text);
      if (problem) throw new Error(problem);
    }
    for (const key of fresh) {
      this.good.set(key, parts.get(key)!);
      this.problems.delete(key);
    }
    for (const key of [...this.good.keys()]) if (!keys.includes(key)) this.good.delete(key);
    writeFileSync(`${this.conf}.next`, text);
    renameSync(`${this.conf}.next`, this.conf);
    this.loaded = generation;
    if (this.child?.pid === undefined) return;
    const workers = this.workers();
    this.retiring.push(...workers);
    // Without /proc (the backend's permission model may not let it read there): nginx's master
    // signals the old workers 100 ms after starting the new ones, so wait past that instead.
    this.blindUntil = workers.length === 0 ? Infinity : 0;
    this.child.kill('SIGHUP');
  }

  private refuse(key: string, why: string): void {
    this.problems.set(key, why);
    this.d.log(`the rules of ${key} cannot run in nginx, the last good ones stay in force: ${why}`);
  }

  private compose(keys: string[], parts: Map<string, ServiceConfig>, fresh: Set<string>, o: NginxOptions): string {
    const chosen = [...keys].map((k) => (fresh.has(k) ? parts.get(k) : this.good.get(k))).filter((p): p is ServiceConfig => p !== undefined);
    return nginxConfig(chosen, o);
  }

  /** nginx -t on a configuration: undefined when it loads, else nginx's complaint. */
  private test(text: string): string | undefined {
    const file = join(this.d.dir, 'nginx.test.conf');
    writeFileSync(file, text);
    const r = spawnSync(this.nginx, ['-t', '-q', '-p', this.d.dir, '-e', join(this.d.dir, 'test.log'), '-c', file], { encoding: 'utf8' });
    if (r.status === 0) return undefined;
    return (r.stderr || r.stdout || `nginx -t exited with ${r.status}`).replace(/^nginx: /gm, '').replace(new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), 'nginx.conf').trim().split('\n')[0];
  }

  /** Reads what nginx has written; rotates the file when it is large. */
  private readLog(): void {
    const log = this.log!;
    log.read();
    if (log.size > 64 * 1024 * 1024 && this.child?.pid !== undefined) {
      log.rotate();
      this.child.kill('SIGUSR1');
    }
  }

  /** One access-log line: a span, the edge's telemetry, the endpoints' outcomes. */
  private ingest(text: string): void {
    let line: NginxLogLine;
    try {
      line = JSON.parse(text) as NginxLogLine;
    } catch {
      this.unreadLines++;
      return;
    }
    const dot = line.h.indexOf('.');
    const service = line.h.slice(0, dot);
    const namespace = line.h.slice(dot + 1);
    const routing = this.d.state.lookup(service, namespace);
    const ms = Math.round(Number(line.rt) * 1000);
    const end = Math.round(Number(line.t) * 1000);
    const status = Number(line.s) || 0;
    const parent = line.pa ? this.d.state.serviceOfTag(tagOf(line.pa)) : undefined;
    const source = parent && parent.namespace === namespace ? parent.service : parent ? `${parent.service}.${parent.namespace}` : line.src || 'ingress';
    const version = line.mi ? line.mi.slice(line.mi.lastIndexOf('/') + 1) : line.v;
    this.telemetry_.record({ namespace, source, service, version }, status, ms);
    const addrs = line.ua ? line.ua.split(/, | : /) : [];
    const codes = line.us ? line.us.split(/, | : /) : [];
    const urls = addrs.map((a) => this.addresses.get(a) ?? `http://${a}`);
    if (routing && addrs.length) this.outcomes(routing, version, urls, codes);
    if (line.mi) return;
    const events: string[] = [];
    if (line.f === 'abort') events.push('fault-abort');
    if (line.f === 'delay') events.push('fault-delay');
    codes.slice(0, -1).forEach((c) => events.push(c === '504' ? 'retry after per-try timeout' : c === '502' ? 'retry after connection failure' : `retry after ${c}`));
    this.spans.record({
      traceId: line.tr!, spanId: line.sp!, ...(line.pa ? { parentSpanId: line.pa } : {}),
      namespace, source, service, version, endpoint: urls[urls.length - 1] ?? '',
      method: line.m, path: line.u, status, startTime: end - ms, durationMs: ms, error: status === 0 || status >= 500,
      attempts: Math.max(1, codes.length), ...(events.length ? { events } : {}),
    });
  }

  /** Counts each try's outcome; an endpoint newly ejected (or back) rewrites the configuration. */
  private outcomes(routing: ServiceRouting, version: string, urls: string[], codes: string[]): void {
    const siblings = routing.versions.get(version) ?? [];
    const now = Date.now();
    let changed = false;
    urls.forEach((url, i) => {
      const before = this.endpoints_.state(url).ejected;
      const code = Number(codes[i]);
      const h = this.endpoints_.count(url, !(code > 0) || code >= 500, siblings, routing.breaker);
      if (!before && h.ejectedUntil > now) {
        changed = true;
        this.wakeAt(h.ejectedUntil);
      }
    });
    if (changed) this.schedule();
  }

  private wakeAt(when: number): void {
    const t = setTimeout(() => this.schedule(), Math.max(0, when - Date.now()) + 5);
    t.unref();
    this.ejectionTimer = t;
  }

  telemetry(): Promise<Telemetry> {
    return Promise.resolve(this.telemetry_);
  }
  endpoints(): Promise<Endpoints> {
    return Promise.resolve(this.endpoints_);
  }
  traces(): Promise<SpanStore> {
    return Promise.resolve(this.spans);
  }

  /** Reads now what nginx has written (its buffers are flushed at least every 100 ms). */
  flushed(): void {
    this.log?.read();
  }

  /** Once nginx serves the configuration of the rules in the state now. */
  async synced(): Promise<void> {
    if (this.pending) {
      clearTimeout(this.pending);
      this.pending = undefined;
      this.applying = this.applying.then(() => this.apply()).catch((e: unknown) => this.d.log(`nginx configuration not applied: ${(e as Error).message}`));
    }
    await this.applying;
    const want = this.loaded;
    for (let i = 0; i < 400; i++) {
      const got = await this.answeredGeneration();
      if (got !== undefined && got >= want) {
        // A caller's kept-alive connection to an old worker is served by the old rules until
        // that worker shuts down (it then closes its idle connections and finishes the rest).
        const before = this.retiring.length;
        this.retiring = this.retiring.filter(NginxDataPlane.serving);
        // A worker names itself shutting down just before it closes its idle connections: a
        // moment more, so that a caller has their close before its next request.
        if (before > 0 && this.retiring.length === 0) this.blindUntil = Date.now() + 50;
        if (this.blindUntil === Infinity) this.blindUntil = Date.now() + 250;
        if (this.retiring.length === 0 && Date.now() >= this.blindUntil) return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`nginx did not load generation ${want}`);
  }

  /** nginx's worker processes (Linux /proc; empty elsewhere). */
  private workers(): number[] {
    const master = this.child?.pid;
    if (master === undefined) return [];
    try {
      return readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      try {
        return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
          try {
            return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ')[1] === String(master);
          } catch {
            return false;
          }
        }).map(Number);
      } catch {
        return [];
      }
    }
  }

  /** A worker of an earlier configuration that still takes requests on its kept-alive connections. */
  private static serving(pid: number): boolean {
    try {
      return !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('shutting down');
    } catch {
      return false;
    }
  }

  /** Graceful stop: nginx finishes the requests it has (SIGQUIT). */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pending);
    clearTimeout(this.ejectionTimer);
    const child = this.child;
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      });
    }
    clearInterval(this.follow);
    this.log?.read();
    this.log?.close();
    this.delay?.closeAllConnections();
    await new Promise<void>((r) => (this.delay ? this.delay.close(() => r()) : r()));
  }
}

/** Follows a file nginx appends lines to, across its rotation (rename, reopen by nginx, rest read). */
class LogFollower {
  private fd?: number;
  private position = 0;
  private partial: Buffer = Buffer.alloc(0);
  private readonly buffer = Buffer.alloc(1024 * 1024);
  /** The rotated file, read until nginx has surely reopened (then removed). */
  private old?: { fd: number; position: number; partial: Buffer; until: number; path: string };

  constructor(private readonly path: string, private readonly onLine: (line: string) => void) {}

  get size(): number {
    return this.position;
  }

  private drain(fd: number, from: number, partial: Buffer): { position: number; partial: Buffer } {
    let position = from;
    for (;;) {
      const n = readSync(fd, this.buffer, 0, this.buffer.length, position);
      if (n <= 0) break;
      position += n;
      // Cut at the last newline in bytes, so a character split between reads is decoded whole.
      const chunk = partial.length ? Buffer.concat([partial, this.buffer.subarray(0, n)]) : this.buffer.subarray(0, n);
      const end = chunk.lastIndexOf(10);
      partial = Buffer.from(chunk.subarray(end + 1));
      if (end < 0) continue;
      for (const l of chunk.toString('utf8', 0, end).split('\n')) if (l) this.onLine(l);
    }
    return { position, partial };
  }

  read(): void {
    if (this.old) {
      const r = this.drain(this.old.fd, this.old.position, this.old.partial);
      Object.assign(this.old, r);
      if (Date.now() > this.old.until) {
        closeSync(this.old.fd);
        try {
          unlinkSync(this.old.path);
        } catch {
          // gone already
        }
        this.old = undefined;
      }
    }
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.path, 'r');
      } catch {
        return;
      }
      this.position = 0;
    }
    const r = this.drain(this.fd, this.position, this.partial);
    this.position = r.position;
    this.partial = r.partial;
  }

  /** Renames the file; the caller tells nginx to reopen its logs. */
  rotate(): void {
    if (this.fd === undefined || this.old) return;
    const path = `${this.path}.old`;
    renameSync(this.path, path);
    // nginx's workers flush and reopen within a second of USR1; what they wrote before is read from here.
    this.old = { fd: this.fd, position: this.position, partial: this.partial, until: Date.now() + 3000, path };
    this.fd = undefined;
    this.partial = Buffer.alloc(0);
  }

  close(): void {
    for (const fd of [this.fd, this.old?.fd]) if (fd !== undefined) closeSync(fd);
    this.fd = undefined;
    this.old = undefined;
  }
}
