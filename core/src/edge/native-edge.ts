import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { availableParallelism, tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { parseRequestInfo } from '../api/request-info.js';
import { auditEventOf } from '../audit/audit-event.js';
import type { AuditLog } from '../audit/audit-log.js';
import { corePackageDir } from '../package-dir.js';
import { EdgeEpoch } from './edge-epoch.js';
import { edgeNginxConfig, edgeSockets } from './edge-nginx-config.js';
import { edgeMetricsText } from './edge-metrics.js';
import { childPids, isWorkerOf } from '@mortise/extension-sdk/util';

/** `MORTISE_EDGE_LISTEN` and what goes with it (docs/edge.md). */
export interface EdgeOptions {
  /** Where the edge takes clients: `host:port` or a port (on 127.0.0.1). */
  listen: string;
  /** The nginx binary (default: found on PATH or in /usr/sbin). */
  nginx?: string;
  /** Debian's nginx modules dir (default /usr/lib/nginx/modules). */
  modulesDir?: string;
  /** Decisions each nginx worker keeps (default 10,000). */
  maxDecisions?: number;
  /**
   * nginx worker processes (`MORTISE_EDGE_WORKERS`; default one per core but one, at least one:
   * the core and the backends behind the edge run on the same machine, and a worker on every
   * core competes with them when they are busy — on two cores one worker measured at least as
   * fast as two at c=64 in five side-by-side runs of 2026-12-02/03, see docs/edge.md).
   */
  workers?: number;
  /**
   * Whether nginx reaches a process backend on the Unix socket the runtime gives it
   * (`MORTISE_EDGE_BACKEND_SOCKETS=on`) rather than its port (the default). On the 2-core machine
   * of docs/benchmarks.md the edge on the sockets left a sixth of the CPU idle at c=64 and served
   * 5–12 % fewer requests than on the ports, in three side-by-side runs of 2026-12-05, although
   * plain nginx gained from them (the core's Node gateway still uses them).
   */
  backendSockets?: boolean;
}

export interface NativeEdgeDeps {
  /** The core's request listener (the gateway's, then koa): what nginx passes on is answered by it. */
  front: RequestListener;
  /** The core's upgrade listener (websockets). */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  decide: (method: string, uri: string, headers: IncomingHttpHeaders) => Promise<string | undefined>;
  /** The backends decisions may name now (`ip:port`, edgeBackendOf): each gets an upstream block in nginx.conf. */
  backends: () => string[];
  /** The Unix sockets backends (`ip:port`) serve on as well, for those that do (the process runtime's): nginx connects there. */
  sockets?: () => Map<string, string>;
  /** The answer to a request nginx forwarded whose backend did not answer in time. */
  timedOut: (method: string, url: string) => { code: number; toStatus(): unknown };
  audit: AuditLog;
  logger: Logger;
  buckets: number[];
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

const installHint = 'install Debian\'s nginx and its Lua module (apt-get install nginx-light libnginx-mod-http-lua), or unset MORTISE_EDGE_LISTEN';

/** Where nginx is, or undefined. */
export function findEdgeNginx(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin']) {
    const candidate = join(dir, 'nginx');
    try {
      if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** This process's user and group names (nginx's `user` directive takes names). */
function runningUser(): { user: string; group: string } {
  const { username } = userInfo();
  const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout?.trim() || username;
  return { user: username, group };
}

/** `8081` or `host:port` → nginx's listen argument. */
export function edgeListenAddress(listen: string): string {
  const v = listen.trim();
  if (/^\d+$/.test(v)) return `127.0.0.1:${v}`;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`MORTISE_EDGE_LISTEN must be a port or host:port, not ${JSON.stringify(listen)}`);
  return v;
}

/**
 * The native edge: Debian's nginx, run by the core as a child process on its own port, in front
 * of the whole core. It answers safe requests to extension routes from the decisions the core
 * made (mortise_edge.lua) and passes everything else to the core over a unix socket, in a 0700
 * directory, with a secret only the two share.
 */
export class NativeEdge {
  readonly epoch: EdgeEpoch;
  private dir?: string;
  private secret = '';
  private server?: Server;
  private child?: ChildProcess;
  /** The workers of the running master, kept so they can be stopped should the master die first. */
  private workers: number[] = [];
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  private auditTimer?: NodeJS.Timeout;
  private readonly sockets = new Set<Socket>();
  private nginx = '';
  private listenAddress = '';
  private modulesDir = '';
  private deps!: NativeEdgeDeps;
  /** The backends in the configuration last written, joined (to tell a change), and its generation. */
  private backendsKey = '';
  private generation = 0;

  constructor(private readonly opts: EdgeOptions) {
    // Before nginx runs there is nothing to tell: it learns the epoch when it starts. A change
    // (any epoch) may have brought a backend nginx has no upstream for: it reloads first.
    this.epoch = new EdgeEpoch(async (e) => {
      if (!this.child) return;
      await this.reloadForBackends();
      await this.control('POST', '/epoch', String(e));
    }, (e) => {
      this.deps.logger.error({ event: 'edge.unreachable', err: e.message }, 'the edge did not take a new epoch: stopping it until it restarts');
      this.kill('SIGKILL');
    });
  }

  /** The edge's URL (what clients use), once it runs. */
  get url(): string | undefined {
    return this.listenAddress ? `http://${this.listenAddress}` : undefined;
  }

  async start(deps: NativeEdgeDeps): Promise<void> {
    this.deps = deps;
    const nginx = this.opts.nginx ?? findEdgeNginx();
    if (!nginx) throw new Error(`MORTISE_EDGE_LISTEN is set but no nginx was found: ${installHint}`);
    const modulesDir = this.opts.modulesDir ?? '/usr/lib/nginx/modules';
    if (!existsSync(join(modulesDir, 'ngx_http_lua_module.so')) || !existsSync(join(modulesDir, 'ndk_http_module.so'))) {
      throw new Error(`MORTISE_EDGE_LISTEN is set but nginx's Lua module is not in ${modulesDir}: ${installHint}`);
    }
    this.nginx = nginx;
    this.listenAddress = edgeListenAddress(this.opts.listen);
    // Short (unix socket paths are limited to 107 bytes) and private: the sockets and the secret live here.
    this.dir = mkdtempSync(join(tmpdir(), 'mortise-edge-'));
    for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(this.dir, d));
    this.secret = randomBytes(24).toString('base64url');
    this.modulesDir = modulesDir;
    try {
      await this.listenForNginx();
      await this.spawnNginx();
    } catch (e) {
      // Nothing of a failed start stays behind: the socket, the dir, a half-started nginx.
      await this.stop();
      throw e;
    }
    this.auditTimer = setInterval(() => void this.drainAudit(), 1_000).unref();
    this.deps.logger.info({ event: 'edge.started', url: this.url, nginx }, `native edge listening on ${this.url}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.auditTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      await this.drainAudit();
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      this.kill('SIGQUIT');
      const timer = setTimeout(() => this.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    // Workers outlive a master that was killed: they go too.
    this.kill('SIGKILL');
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The edge's own series for /metrics (requests it answered without the core). */
  async metricsText(): Promise<string> {
    if (!this.child) return '';
    try {
      return edgeMetricsText(await this.control('GET', '/stats'), this.deps.buckets);
    } catch {
      return '';
    }
  }

  /** The core's side of the edge: requests nginx passes on, with the secret, on the unix socket. */
  private async listenForNginx(): Promise<void> {
    const secret = Buffer.from(this.secret);
    const fromNginx = (req: IncomingMessage): boolean => {
      const given = Buffer.from(String(req.headers['x-mortise-edge-secret'] ?? ''));
      const ok = given.length === secret.length && timingSafeEqual(given, secret);
      const client = req.headers['x-mortise-edge-client'];
      delete req.headers['x-mortise-edge-secret'];
      delete req.headers['x-mortise-edge-client'];
      if (!ok) delete req.headers['x-mortise-edge-failed'];
      // The client's address as nginx saw it, where the core reads one (audit, login throttling).
      if (ok) Object.defineProperty(req.socket, 'remoteAddress', { value: typeof client === 'string' ? client : '', configurable: true, writable: true });
      return ok;
    };
    this.server = createServer((req, res) => {
      if (!fromNginx(req)) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('not the edge\n');
        return;
      }
      if (req.url?.startsWith('/_mortise_edge/decide?')) {
        void this.answerDecision(req, res);
        return;
      }
      if (req.headers['x-mortise-edge-failed'] === 'timeout') {
        const e = this.deps.timedOut(req.method ?? 'GET', req.url ?? '/');
        const body = JSON.stringify(e.toStatus());
        res.writeHead(e.code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
        return;
      }
      this.deps.front(req, res);
    });
    this.server.keepAliveTimeout = 65_000;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!fromNginx(req)) {
        socket.destroy();
        return;
      }
      this.deps.upgrade(req, socket, head);
    });
    const path = edgeSockets(this.dir!).core;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(path, () => resolve());
    });
  }

  private async answerDecision(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    try {
      const q = new URLSearchParams(req.url!.slice(req.url!.indexOf('?') + 1));
      const decision = await this.deps.decide(q.get('m') ?? '', q.get('u') ?? '', req.headers);
      if (decision === undefined) res.writeHead(204).end();
      else res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(decision) }).end(decision);
    } catch (e) {
      this.deps.logger.error({ event: 'edge.decision-failed', err: (e as Error).stack }, 'could not decide for the edge');
      if (!res.headersSent) res.writeHead(204).end();
    }
  }

  private async spawnNginx(): Promise<void> {
    const dir = this.dir!;
    this.writeConfig();
    // A killed nginx leaves its control socket behind, and binding it again would fail.
    rmSync(edgeSockets(dir).control, { force: true });
    // Not detached: a session of its own is also a scheduler autogroup of its own, which on a
    // kernel with autogroups made every request through the edge ~10 % dearer (docs/edge.md).
    // Its workers are stopped by pid instead, and stop themselves should their master vanish.
    const child = spawn(this.nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.workers = [];
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4_000);
      for (const line of chunk.split('\n')) if (line.trim()) this.deps.logger.warn({ event: 'edge.nginx', line: line.trim() }, 'nginx');
    });
    const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`nginx exited (${signal ?? code}): ${stderr.trim() || 'no message'}`))));
    exited.catch(() => undefined);
    child.once('exit', (code, signal) => {
      if (this.stopping || this.child !== child) return;
      this.kill('SIGKILL', child);
      this.deps.logger.error({ event: 'edge.exited', code, signal }, 'the edge\'s nginx exited: restarting it');
      this.restartTimer = setTimeout(() => void this.spawnNginx().catch((e: Error) => this.deps.logger.error({ event: 'edge.restart-failed', err: e.message }, 'could not restart the edge')), 1_000);
    });
    // Ready when its control socket answers; it decides nothing until it holds the epoch.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await Promise.race([this.control('GET', '/stats').then(() => true, () => false), exited]);
      if (up) break;
      if (Date.now() > deadline) {
        this.kill('SIGKILL', child);
        throw new Error(`nginx did not start within 10 s: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    this.workers = childPids(child.pid!);
    this.epoch.restarted();
    await Promise.race([this.epoch.settled(), exited]);
  }

  /** The backends decisions may name now, sorted, each once, and the sockets of those that serve on one. */
  private currentBackends(): { backends: string[]; sockets: Record<string, string>; key: string } {
    const backends = [...new Set(this.deps.backends())].sort();
    const served = this.opts.backendSockets ? this.deps.sockets?.() : undefined;
    const sockets: Record<string, string> = {};
    for (const b of backends) {
      const socket = served?.get(b);
      if (socket) sockets[b] = socket;
    }
    return { backends, sockets, key: backends.map((b) => (sockets[b] ? `${b}=${sockets[b]}` : b)).join(' ') };
  }

  /** nginx.conf for the backends there are now, as a new generation. */
  private writeConfig(): void {
    const { backends, sockets, key } = this.currentBackends();
    this.backendsKey = key;
    this.generation++;
    writeFileSync(join(this.dir!, 'nginx.conf'), edgeNginxConfig({
      listen: this.listenAddress, dir: this.dir!, luaDir: join(corePackageDir(), 'edge'), modulesDir: this.modulesDir, secret: this.secret,
      buckets: this.deps.buckets, maxDecisions: this.opts.maxDecisions ?? 10_000, corePid: process.pid, workers: this.opts.workers ?? defaultEdgeWorkers(),
      connectTimeoutMs: this.deps.connectTimeoutMs, responseTimeoutMs: this.deps.responseTimeoutMs, backends, sockets, generation: this.generation,
      ...(process.getuid?.() === 0 ? { runAs: runningUser() } : {}),
    }), { mode: 0o600 });
  }

  /**
   * When the backends changed since nginx.conf was written: a new one, taken by nginx's graceful
   * reload (SIGHUP: new workers; the old ones finish what they serve, streams included, and take
   * no new connection). Resolves once the new workers answer on the control socket; until then a
   * decision naming a backend the old workers do not know is not used (the core answers).
   */
  private async reloadForBackends(): Promise<void> {
    const child = this.child;
    if (!child?.pid || this.currentBackends().key === this.backendsKey) return;
    this.writeConfig();
    const generation = String(this.generation);
    process.kill(child.pid, 'SIGHUP');
    const deadline = Date.now() + 5_000;
    while ((await this.control('GET', '/generation').catch(() => '')).trim() !== generation) {
      if (Date.now() > deadline) throw new Error(`nginx did not take its configuration of generation ${generation} within 5 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // The old workers stop by themselves; the new ones are those to stop should the master die.
    this.workers = childPids(child.pid);
    this.deps.logger.info({ event: 'edge.reloaded', generation: this.generation, backends: this.backendsKey }, 'the edge took a new set of backends');
  }

  /** Signals the master (while it runs); SIGKILL goes to its workers too (those it has now and those it had). */
  private kill(signal: NodeJS.Signals, child = this.child): void {
    if (!child?.pid) return;
    // A pid is only signalled while it is known to be ours: an exited master's may be reused.
    const running = child.exitCode === null && child.signalCode === null;
    const workers = signal === 'SIGKILL' ? [...new Set([...(running ? childPids(child.pid) : []), ...this.workers])].filter((w) => isWorkerOf(w, child.pid!)) : [];
    for (const p of [...(running ? [child.pid] : []), ...workers]) {
      try {
        process.kill(p, signal);
      } catch {
        // already gone
      }
    }
  }



  /** A request to nginx's control socket (the secret in a header). */
  private control(method: string, path: string, body?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: edgeSockets(this.dir!).control, method, path, headers: { 'x-mortise-edge-secret': this.secret, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) }, timeout: 2_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`nginx answered ${res.statusCode} to ${path}`))));
      });
      req.on('timeout', () => req.destroy(new Error(`nginx did not answer ${path} within 2 s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Requests the backend refused (401/403) through the edge go into the audit log as the core's would. */
  private async drainAudit(): Promise<void> {
    if (!this.child) return;
    let text: string;
    try {
      text = await this.control('GET', '/audit');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      const [method, uri, ip, username, status, started, userAgent, groups] = line.split('\t');
      if (!method || !uri || !username) continue;
      const q = uri.indexOf('?');
      const path = q < 0 ? uri : uri.slice(0, q);
      const querystring = q < 0 ? '' : uri.slice(q + 1);
      try {
        this.deps.audit.record(auditEventOf({
          method, path, querystring, sourceIp: ip ?? '', userAgent: userAgent || undefined,
          info: parseRequestInfo(method, path, new URLSearchParams(querystring)),
          user: { username, groups: groups ? groups.split(',') : [], via: 'token' }, code: Number(status),
        }, new Date(Number(started) * 1000)));
      } catch (e) {
        this.deps.logger.error({ event: 'audit.record-failed', err: (e as Error).message }, 'could not record an edge request');
      }
    }
  }
}

/** One nginx worker per core but one (at least one): see `EdgeOptions.workers`. */
export function defaultEdgeWorkers(cores = availableParallelism()): number {
  return Math.max(1, cores - 1);
}
