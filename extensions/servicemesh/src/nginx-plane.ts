import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { isIP } from 'node:net';
import { delimiter, join } from 'node:path';
import { childPids } from '@mortise/extension-sdk/util';
import type { DataPlaneView } from './dataplane-view.js';
import { Endpoints, type Health } from './endpoints.js';
import type { MeshState } from './mesh-state.js';
import { endpointAddress, nginxConfig, serviceRules, type NginxLogLine, type NginxOptions } from './nginx-config.js';
import { meshLua } from './nginx-lua.js';
import type { ServiceRouting } from './routing.js';
import { Telemetry } from './telemetry.js';
import { SpanStore, tagOf } from './tracing.js';

// The native data plane: Debian's nginx with its Lua module, run by the backend as a child
// process. Its configuration (nginx-config.ts) does not depend on the rules: every change (a watch
// event, a GrayRelease step, an ejection) is pushed as Lua tables through a control socket into a
// shared dict, which nginx's workers read on their next request (nginx-lua.ts). No reload, so
// nothing is closed under a client and requests in flight finish with the version they were given.
// Telemetry is counted by nginx per edge, second, code and latency bucket, and outlier detection
// by nginx too (ejecting at once, across its workers); both are read from the control socket.
// Spans come as JSON lines of a buffered access log (sampled traces only) which this process
// follows and turns into the same spans the Node plane records.

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

/** Debian's dynamic modules the plane loads (libnginx-mod-http-ndk, libnginx-mod-http-lua; ndk first). */
export const LUA_MODULES_DIR = '/usr/lib/nginx/modules';
/** Debian's lua-resty-core, which the Lua module requires. */
export const LUA_PATH = '/usr/share/lua/5.1/?.lua;;';

/**
 * Whether this nginx loads its Lua module with lua-resty-core: asked of nginx itself (`nginx -t`
 * on a configuration that loads them, written in `dir`), since the backend's permission model may
 * not let it read /usr/lib. Undefined when it does, else nginx's complaint.
 */
export function nginxLuaProblem(nginx: string, dir: string, modulesDir = LUA_MODULES_DIR): string | undefined {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'lua-probe.conf');
  writeFileSync(conf, `load_module ${modulesDir}/ndk_http_module.so;\nload_module ${modulesDir}/ngx_http_lua_module.so;\npid ${dir}/lua-probe.pid;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  lua_package_path "${LUA_PATH}";\n  init_by_lua_block { require "resty.core"; require "ngx.balancer" }\n}\n`);
  const r = spawnSync(nginx, ['-t', '-q', '-p', dir, '-e', join(dir, 'lua-probe.log'), '-c', conf], { encoding: 'utf8' });
  for (const f of ['lua-probe.conf', 'lua-probe.log']) {
    try {
      unlinkSync(join(dir, f));
    } catch {
      // not written
    }
  }
  if (r.status === 0) return undefined;
  return (r.stderr || r.stdout || `nginx -t exited with ${r.status}`).replace(/^nginx: /gm, '').trim().split('\n')[0];
}

export const installHint = 'apt-get install nginx-light libnginx-mod-http-lua';

/** The extension's `dataPlane` setting and the nginx found (with its Lua module, if any) → the plane to run. */
export function chooseDataPlane(setting: 'node' | 'nginx' | 'auto', nginx: string | undefined, lua = true): 'node' | 'nginx' {
  if (setting === 'node') return 'node';
  if (nginx && lua) return 'nginx';
  if (setting === 'nginx') throw new Error(`dataPlane is "nginx" but ${nginx ? "nginx's Lua module was not found" : 'no nginx binary was found'} (${installHint}), or set dataPlane to "node" or "auto"`);
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
  /** New traces sampled per second (a caller's sampled flag is always respected); default 100. */
  traceSamplesPerSecond?: number;
  modulesDir?: string;
}

/** LuaJIT's account of the nginx plane's request path (NginxDataPlane.jitReport). */
export interface JitReport {
  /** route, balance, log: root traces compiled from the function's start, attempts given up and why (message → times). */
  functions: Record<string, { traces: number; givenUp: number; reasons: Record<string, number> }>;
  traces: number;
  givenUp: number;
  /** Where and why the last attempt (of any code) was given up. */
  lastGivenUp: string;
}

export class NginxDataPlane implements DataPlaneView {
  readonly telemetry_ = new Telemetry();
  readonly spans: SpanStore;
  readonly endpoints_ = new Endpoints();
  readonly nginx: string;
  /** Why a service's latest rules are not in nginx (its last good ones stay). */
  readonly problems = new Map<string, string>();
  /** Log lines that were not JSON. */
  unreadLines = 0;
  /** Rule pushes made (each a control request, no reload). */
  pushes = 0;
  private child?: ChildProcess;
  private log?: LogFollower;
  private follow?: NodeJS.Timeout;
  private pull?: NodeJS.Timeout;
  /** A service's last rules nginx took (its Lua source), kept when new ones cannot be written. */
  private readonly good = new Map<string, string>();
  private pending?: NodeJS.Timeout;
  private applying: Promise<void> = Promise.resolve();
  private pulling: Promise<void> = Promise.resolve();
  /** `ip:port` → endpoint URL, of every version's endpoints. */
  private addresses = new Map<string, string>();
  private readonly resolved = new Map<string, string>();
  private stopped = false;
  private readonly modulesDir: string;
  /** nginx's workers when it started (stopped by pid should the master not stop them). */
  private workers: number[] = [];

  constructor(private readonly d: NginxPlaneDeps) {
    const nginx = d.nginx ?? findNginx();
    if (!nginx) throw new Error(`dataPlane "nginx": no nginx binary found (${installHint}), or use dataPlane "node"`);
    this.modulesDir = d.modulesDir ?? LUA_MODULES_DIR;
    const problem = nginxLuaProblem(nginx, d.dir, this.modulesDir);
    if (problem) throw new Error(`dataPlane "nginx": nginx does not load its Lua module (${problem}; ${installHint})`);
    this.nginx = nginx;
    this.spans = new SpanStore(d.traceCapacity);
    d.state.onChange(() => this.schedule());
  }

  private get conf(): string {
    return join(this.d.dir, 'nginx.conf');
  }

  private get controlSocket(): string {
    return join(this.d.dir, 'control', 'control.sock');
  }

  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    this.log = new LogFollower(join(this.d.dir, 'access.log'), (line) => this.ingest(line));
    this.follow = setInterval(() => this.readLog(), 50);
    this.follow.unref();
    await this.stopLeftover();
    // An earlier run's lines are not this run's telemetry.
    for (const f of ['access.log', 'access.log.old', join('control', 'control.sock')]) {
      try {
        unlinkSync(join(this.d.dir, f));
      } catch {
        // none
      }
    }
    mkdirSync(join(this.d.dir, 'lua'), { recursive: true });
    writeFileSync(join(this.d.dir, 'lua', 'mesh.lua'), meshLua);
    // The control socket's directory: only this process's user may reach the socket.
    mkdirSync(join(this.d.dir, 'control'), { recursive: true, mode: 0o700 });
    chmodSync(join(this.d.dir, 'control'), 0o700);
    const o: NginxOptions = { dir: this.d.dir, port, host, logFile: join(this.d.dir, 'access.log'), controlSocket: this.controlSocket, modulesDir: this.modulesDir, workerProcesses: this.d.workerProcesses };
    writeFileSync(this.conf, nginxConfig(o));
    const errors = join(this.d.dir, 'error.log');
    this.child = spawn(this.nginx, ['-p', this.d.dir, '-e', errors, '-c', this.conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (b: Buffer) => this.d.log(`nginx: ${b.toString().trim()}`));
    this.child.once('exit', (code, signal) => {
      if (!this.stopped) this.d.log(`nginx exited (${code ?? signal}); see ${errors}`);
    });
    // Not detached: a session of its own would be a scheduler autogroup of its own, which on a
    // kernel with autogroups made every request through nginx ~10 % dearer at c=64 (docs). The
    // master stops its workers on SIGTERM; killed, its workers stop themselves (mesh.lua).
    const kill = () => this.child?.kill('SIGTERM');
    process.once('exit', kill);
    for (let i = 0; ; i++) {
      if (this.child.exitCode !== null) throw new Error(`nginx exited with ${this.child.exitCode}: ${readFileSync(errors, 'utf8').slice(-2000)}`);
      if (existsSync(this.controlSocket) && (await this.control('GET', '/telemetry').then(() => true, () => false))) break;
      if (i > 400) throw new Error(`nginx did not start: ${readFileSync(errors, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    this.workers = childPids(this.child.pid!);
    await this.apply();
    this.pull = setInterval(() => void this.pullTelemetry(), 1000);
    this.pull.unref();
    return `http://${host}:${port}`;
  }

  /** An nginx of an earlier backend of this data dir still running (the backend was killed): stopped. */
  private async stopLeftover(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.d.dir, 'nginx.pid'), 'utf8').trim());
    } catch {
      return;
    }
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.conf)) return;
    } catch {
      // /proc may be out of the backend's permission model: an nginx answering on this
      // directory's control socket is this directory's.
      if (!(await this.control('GET', '/telemetry').then(() => true, () => false))) return;
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

  /** A request to nginx's control server (its unix socket). */
  private control(method: 'GET' | 'POST', path: string, body?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.controlSocket, method, path, headers: { host: 'control', ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) }, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`nginx control ${path}: ${res.statusCode} ${text.slice(0, 200)}`))));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`nginx control ${path}: timed out`)));
      req.end(body);
    });
  }

  private schedule(): void {
    if (this.pending || !this.child) return;
    // Changes arriving together (a list, a release step) make one push.
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.applying = this.applying.then(() => this.apply()).catch((e: unknown) => this.d.log(`nginx rules not applied: ${(e as Error).message}`));
    }, 5);
  }

  /** An endpoint's host as the address nginx connects to (names resolved by this process, once). */
  private async resolve(routings: ServiceRouting[]): Promise<void> {
    for (const r of routings) {
      for (const urls of r.versions.values()) {
        for (const u of urls) {
          let host: string;
          try {
            host = endpointAddress(u).host;
          } catch {
            continue;
          }
          if (isIP(host) || this.resolved.has(host)) continue;
          try {
            this.resolved.set(host, (await lookup(host, { family: 4 })).address);
          } catch (e) {
            this.d.log(`endpoint ${u}: ${(e as Error).message}`);
          }
        }
      }
    }
  }

  /** Pushes the rules in force; a service whose rules nginx cannot run keeps its last good ones. */
  private async apply(): Promise<void> {
    const routings = this.d.state.all().sort((a, b) => `${a.service}.${a.namespace}`.localeCompare(`${b.service}.${b.namespace}`));
    await this.resolve(routings);
    const ip = (h: string) => (isIP(h) ? h : this.resolved.get(h) ?? h);
    this.addresses = new Map();
    const parts: Array<[string, string]> = [];
    const fresh = new Map<string, string>();
    for (const r of routings) {
      const key = `${r.service}.${r.namespace}`;
      for (const urls of r.versions.values()) {
        for (const u of urls) {
          try {
            const a = endpointAddress(u);
            this.addresses.set(`${ip(a.host)}:${a.port}`, u);
          } catch {
            // refused below
          }
        }
      }
      let src: string | undefined;
      try {
        src = serviceRules(r, ip);
        fresh.set(key, src);
      } catch (e) {
        this.refuse(key, (e as Error).message);
        src = this.good.get(key);
      }
      if (src !== undefined) parts.push([key, src]);
    }
    parts.push(['@samples', String(this.d.traceSamplesPerSecond ?? 100)]);
    const body = parts.map(([k, src]) => `${k}\n${Buffer.byteLength(src)}\n${src}`).join('');
    const answer = await this.control('POST', '/rules', body);
    this.pushes++;
    const refused = new Map(answer.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)] as [string, string]));
    for (const [key, src] of fresh) {
      const why = refused.get(key);
      if (why !== undefined) {
        this.refuse(key, why);
      } else {
        this.good.set(key, src);
        this.problems.delete(key);
      }
    }
    const keys = new Set(routings.map((r) => `${r.service}.${r.namespace}`));
    for (const key of [...this.good.keys()]) if (!keys.has(key)) this.good.delete(key);
  }

  private refuse(key: string, why: string): void {
    this.problems.set(key, why);
    this.d.log(`the rules of ${key} cannot run in nginx, the last good ones stay in force: ${why}`);
  }

  /** Adds what nginx counted since the last read to the telemetry. */
  private pullTelemetry(): Promise<void> {
    if (!this.child || this.stopped) return Promise.resolve();
    this.pulling = this.pulling.then(async () => {
      let text: string;
      try {
        text = await this.control('GET', '/telemetry');
      } catch (e) {
        if (!this.stopped) this.d.log(`nginx telemetry not read: ${(e as Error).message}`);
        return;
      }
      for (const line of text.split('\n')) {
        if (!line) continue;
        const f = line.split('\t');
        const edge = { namespace: f[2]!, source: f[3]!, service: f[4]!, version: f[5]! };
        const second = Number(f[1]);
        if (f[0] === 'c') this.telemetry_.add(edge, second, Number(f[6]), Number(f[7]), Number(f[8]) - 1, Number(f[9]));
        else if (f[0] === 's') this.telemetry_.addDuration(edge, second, Number(f[6]));
      }
    });
    return this.pulling;
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

  /** One access-log line: a span. */
  private ingest(text: string): void {
    let line: NginxLogLine;
    try {
      line = JSON.parse(text) as NginxLogLine;
    } catch {
      this.unreadLines++;
      return;
    }
    // Not a span of this build's log format (an nginx.conf of another build, as the benches run).
    if (typeof line.tp !== 'string' || typeof line.h !== 'string') {
      this.unreadLines++;
      return;
    }
    const dot = line.h.indexOf('.');
    const service = line.h.slice(0, dot);
    const namespace = line.h.slice(dot + 1);
    // The request's start: its end less its time (the copy's end, for a mirrored one).
    const start = Math.round((Number(line.t) - Number(line.rt)) * 1000);
    const ms = line.md ? Math.round(Number(line.md)) : Math.round(Number(line.rt) * 1000);
    const status = Number(line.s) || 0;
    const parent = line.pa ? this.d.state.serviceOfTag(tagOf(line.pa)) : undefined;
    const source = parent && parent.namespace === namespace ? parent.service : parent ? `${parent.service}.${parent.namespace}` : line.src || 'ingress';
    const version = line.v;
    const addrs = line.ua ? line.ua.split(/, | : /) : [];
    const codes = line.us ? line.us.split(/, | : /) : [];
    const urls = addrs.map((a) => this.addresses.get(a) ?? `http://${a}`);
    const events: string[] = [];
    if (line.f === 'abort') events.push('fault-abort');
    if (line.f === 'delay') events.push('fault-delay');
    codes.slice(0, -1).forEach((c) => events.push(c === '504' ? 'retry after per-try timeout' : c === '502' ? 'retry after connection failure' : `retry after ${c}`));
    this.spans.record({
      traceId: line.tp.slice(3, 35), spanId: line.tp.slice(36, 52), ...(line.pa ? { parentSpanId: line.pa } : {}),
      namespace, source, service, version, endpoint: urls[urls.length - 1] ?? '',
      method: line.m, path: line.u, status, startTime: start, durationMs: ms, error: status === 0 || status >= 500,
      attempts: Math.max(1, codes.length), ...(events.length ? { events } : {}),
    });
  }

  async telemetry(): Promise<Telemetry> {
    await this.pullTelemetry();
    return this.telemetry_;
  }
  /** Every endpoint's outlier-detection state in each cluster, as nginx counted it. */
  async endpoints(): Promise<Endpoints> {
    if (!this.child || this.stopped) return this.endpoints_;
    let text = '';
    try {
      text = await this.control('GET', '/endpoints');
    } catch (e) {
      this.d.log(`nginx endpoints not read: ${(e as Error).message}`);
      return this.endpoints_;
    }
    const health = new Map<string, [string, string, Health]>();
    for (const line of text.split('\n')) {
      const [kind, cluster, url, value] = line.split('\t');
      if (!cluster || !url || value === undefined) continue;
      let h = health.get(`${cluster} ${url}`)?.[2];
      if (!h) health.set(`${cluster} ${url}`, [cluster, url, (h = { consecutive: 0, ejections: 0, ejectedUntil: 0 })]);
      if (kind === 'c') h.consecutive = Number(value);
      else if (kind === 'x') h.ejections = Number(value);
      else if (kind === 'u') h.ejectedUntil = Number(value);
    }
    for (const [cluster, url, h] of health.values()) this.endpoints_.set(cluster, url, h);
    return this.endpoints_;
  }
  /**
   * What LuaJIT compiled of the request path in the nginx worker that answered (jit_report in
   * nginx-lua.ts): per function (route, balance, log) the root traces compiled from its start and
   * the attempts given up, by reason; for all code the traces compiled, given up and the last
   * given up. A function with attempts given up and no trace runs interpreted, at several times the cost.
   */
  async jitReport(): Promise<JitReport> {
    const text = await this.control('GET', '/jit');
    const report: JitReport = { functions: {}, traces: 0, givenUp: 0, lastGivenUp: '' };
    for (const line of text.split('\n')) {
      const [name, traces, givenUp, rest = ''] = line.split('\t');
      if (!name || traces === undefined || givenUp === undefined) continue;
      if (name === '*') Object.assign(report, { traces: Number(traces), givenUp: Number(givenUp), lastGivenUp: rest });
      else {
        const reasons = Object.fromEntries(rest.split(';').filter(Boolean).map((r) => [r.slice(0, r.lastIndexOf('=')), Number(r.slice(r.lastIndexOf('=') + 1))]));
        report.functions[name] = { traces: Number(traces), givenUp: Number(givenUp), reasons };
      }
    }
    return report;
  }
  traces(): Promise<SpanStore> {
    this.log?.read();
    return Promise.resolve(this.spans);
  }

  /** Reads now what nginx has written (its buffers are flushed at least every 100 ms). */
  flushed(): void {
    this.log?.read();
  }

  /** Once nginx has the rules in the state now (its workers take them on their next request). */
  async synced(): Promise<void> {
    if (this.pending) {
      clearTimeout(this.pending);
      this.pending = undefined;
      this.applying = this.applying.then(() => this.apply()).catch((e: unknown) => this.d.log(`nginx rules not applied: ${(e as Error).message}`));
    }
    await this.applying;
  }

  /** Graceful stop: nginx finishes the requests it has (SIGQUIT). */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.pending);
    clearInterval(this.pull);
    const child = this.child;
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
        setTimeout(() => {
          // Not a process group of its own (a scheduler autogroup of its own): its workers by pid.
          for (const pid of this.workers) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone
            }
          }
          child.kill('SIGKILL');
        }, 5000).unref();
      });
    }
    clearInterval(this.follow);
    this.log?.read();
    this.log?.close();
  }
}

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
