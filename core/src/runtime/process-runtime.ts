import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeEnvironment } from '@mortise/extension-sdk/runtime';
import { freePort } from '@mortise/extension-sdk/util';
import type { Logger } from '../ops/logger.js';
import { BackendNotReadyError } from './backend-not-ready-error.js';
import { BackendSockets } from './backend-sockets.js';
import { backendEnvironment, exitWithCoreModule, permissionArgs } from './backend-process-flags.js';
import { fingerprintOf, specProblem } from './backend-spec-check.js';
import { probeHealth } from './health-probe.js';
import { LineSplitter, lastMeaningfulLine } from './log-lines.js';
import { BackendLogFiles } from './backend-log-files.js';
import { fsAllowList, probeNodeFlags, type NodeFlagSupport } from './permissions.js';
import { PidFile, processStartTime } from './pid-file.js';
import type { Backend, Instance } from './process-backend.js';
import type { LocalBackendSpec, ProcessRuntimeOptions } from './process-runtime-options.js';
import type { LogRead, LogReadQuery } from '../ops/durable-log.js';
import type { BackendLogLine, BackendSpec, BackendState, BackendStatus, Runtime, RuntimeEvents } from './runtime.js';
import { within } from './settle-within.js';
import { jsonObjectLine, levelOf, type LevelName } from './structured-log-line.js';

export { BackendNotReadyError };
export type { LocalPackage, ProcessRuntimeOptions } from './process-runtime-options.js';

// The embedded mode's Runtime: every enabled extension backend is a child process of the core,
// with its own port on 127.0.0.1, a minimal environment, its package as working directory,
// confined by Node's permission model (see permissions.ts for what that can and cannot do),
// readiness from its health path, restarts with exponential backoff, its stdout/stderr kept as
// structured log lines, and a graceful stop.

/** Starts that end the same way before the backend is ever Ready, after which it is crash-looping. */
const CRASH_LOOP_AFTER = 3;
/** Consecutive failed health checks that turn a Ready backend Unhealthy. */
const UNHEALTHY_AFTER = 3;
/** Immediate restarts on a new port when a backend's port was taken before it got Ready. */
const MAX_PORT_RETRIES = 5;
const STDERR_TAIL = 40;
const STARTING_POLL_MAX_MS = 200;

function describeExit(code: number | null, signal: NodeJS.Signals | null, stderrLine: string | undefined): string {
  const how = signal ? `killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
  return stderrLine ? `${how}: ${stderrLine}` : how;
}

export class ProcessRuntime extends EventEmitter<RuntimeEvents> implements Runtime {
  private readonly logger: Logger;
  private readonly locatePackage: ProcessRuntimeOptions['locatePackage'];
  private readonly nodePath: string;
  private readonly healthIntervalMs: number;
  private readonly healthTimeoutMs: number;
  private readonly startupTimeoutMs: number;
  private readonly stopGraceMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private readonly logFiles: BackendLogFiles;
  private readonly permissionModel: boolean;
  private readonly exitWithCore: boolean;
  private readonly pidFile?: PidFile;
  private readonly sockets?: BackendSockets;
  private readonly backends = new Map<string, Backend>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private flagsPromise?: Promise<NodeFlagSupport>;
  private warnedUnconfined = false;

  constructor(opts: ProcessRuntimeOptions) {
    super();
    // Every follower of a backend's log (the log API, the logging extension) is a listener: many by design.
    this.setMaxListeners(0);
    this.logger = opts.logger;
    this.locatePackage = opts.locatePackage;
    this.nodePath = opts.nodePath ?? process.execPath;
    this.healthIntervalMs = opts.healthIntervalMs ?? 1000;
    this.healthTimeoutMs = opts.healthTimeoutMs ?? 2000;
    this.startupTimeoutMs = opts.startupTimeoutMs ?? 60_000;
    this.stopGraceMs = opts.stopGraceMs ?? 5000;
    this.baseMs = opts.backoff?.baseMs ?? 500;
    this.maxMs = opts.backoff?.maxMs ?? 60_000;
    this.resetAfterMs = opts.backoff?.resetAfterMs ?? 60_000;
    this.logFiles = new BackendLogFiles({ dir: opts.logDir, maxBytes: opts.logMaxBytes });
    this.permissionModel = opts.permissionModel ?? true;
    this.exitWithCore = opts.exitWithCore ?? true;
    if (opts.stateDir) {
      mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
      this.pidFile = new PidFile(join(opts.stateDir, 'runtime.pids'));
      for (const rec of this.pidFile.killStale()) {
        this.logger.warn({ backend: rec.id, pid: rec.pid, entry: rec.entry }, 'killed a backend process left running by a previous core');
      }
    }
    if (opts.sockets !== false) this.sockets = new BackendSockets(opts.stateDir ? { dir: join(opts.stateDir, 'sockets') } : {});
  }

  // ---- Runtime ------------------------------------------------------------------------------

  start(spec: BackendSpec): Promise<BackendStatus> {
    return this.serialize(spec.id, async () => {
      const { local, problem: unlocated } = await this.locate(spec);
      const fingerprint = fingerprintOf(local);
      const current = this.backends.get(spec.id);
      const problem = unlocated ?? specProblem(local);
      if (problem && current?.wanted && (current.proc || current.restartTimer)) {
        // A spec that cannot start does not take down the one that runs.
        throw new Error(`backend ${spec.id} cannot start: ${problem}`);
      }
      if (current) {
        if (current.wanted && current.fingerprint === fingerprint && current.state !== 'Stopped' && current.state !== 'Failed') {
          return this.snapshot(current);
        }
        if (current.proc || current.restartTimer) {
          current.log.info('backend spec changed: stopping the running process first');
        }
        await this.stopBackend(current, false);
      }
      const b = this.newBackend(local, fingerprint);
      this.backends.set(spec.id, b);
      this.emitStatus(b);
      if (problem) {
        b.wanted = false;
        this.setState(b, 'Failed', problem);
        throw new Error(`backend ${spec.id} cannot start: ${problem}`);
      }
      mkdirSync(local.dataDir, { recursive: true, mode: 0o700 });
      await this.spawnInstance(b);
      return this.snapshot(b);
    });
  }

  /** The spec with its package found on this machine, or why it cannot be. */
  private async locate(spec: BackendSpec): Promise<{ local: LocalBackendSpec; problem?: string }> {
    const nowhere = { ...spec, entry: '', packageDir: '', dataDir: '' };
    if (!spec.package) {
      return {
        local: nowhere,
        problem: spec.image
          ? `its image ${spec.image} needs a container runtime, and this core runs backends as processes (MORTISE_RUNTIME=kubernetes runs images: docs/kubernetes.md)`
          : 'its spec names no package to run',
      };
    }
    try {
      return { local: { ...spec, ...(await this.locatePackage(spec)) } };
    } catch (e) {
      return { local: nowhere, problem: `its package could not be found: ${(e as Error).message}` };
    }
  }

  waitReady(id: string, timeoutMs: number): Promise<BackendStatus> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.off('status', onStatus);
      };
      const check = (): void => {
        const b = this.backends.get(id);
        if (!b) {
          done();
          reject(new BackendNotReadyError(`backend ${id} is not known to the runtime`));
          return;
        }
        if (b.state === 'Ready') {
          done();
          resolve(this.snapshot(b));
        } else if (b.state === 'Failed' || b.state === 'Stopped') {
          done();
          reject(new BackendNotReadyError(`backend ${id} is ${b.state}${b.message ? `: ${b.message}` : ''}`, this.snapshot(b)));
        } else if (b.crashLooping) {
          done();
          reject(new BackendNotReadyError(`backend ${id} is ${b.message ?? 'crash-looping'}`, this.snapshot(b)));
        }
      };
      const onStatus = (s: BackendStatus) => {
        if (s.id === id) check();
      };
      this.on('status', onStatus);
      const giveUp = () => {
        done();
        const b = this.backends.get(id);
        const parts = [b ? `state ${b.state}` : 'unknown'];
        if (b?.message) parts.push(b.message);
        if (b?.lastExit && b.lastExit !== b.message) parts.push(`last exit: ${b.lastExit}`);
        if (b && b.restarts > 0) parts.push(`${b.restarts} restart${b.restarts === 1 ? '' : 's'}`);
        reject(new BackendNotReadyError(`backend ${id} not ready within ${timeoutMs} ms (${parts.join('; ')})`, b && this.snapshot(b)));
      };
      if (Number.isFinite(timeoutMs)) timer = setTimeout(giveUp, Math.max(0, timeoutMs));
      check();
    });
  }

  stop(id: string): Promise<void> {
    // Marked at once, so a restart timer or a health check racing with the queued stop cannot
    // bring the backend back.
    const b = this.backends.get(id);
    if (b) {
      b.wanted = false;
      clearTimeout(b.restartTimer);
      b.restartTimer = undefined;
    }
    return this.serialize(id, async () => {
      const current = this.backends.get(id);
      if (current) await this.stopBackend(current, true);
    });
  }

  status(id: string): BackendStatus | undefined {
    const b = this.backends.get(id);
    return b ? this.snapshot(b) : undefined;
  }

  list(): BackendStatus[] {
    return [...this.backends.values()].map((b) => this.snapshot(b));
  }

  logs(id: string, q: LogReadQuery = {}): Promise<LogRead<BackendLogLine>> {
    return this.logFiles.read(id, q);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.backends.keys()].map((id) => this.stop(id)));
    this.logFiles.closeAll();
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Start/stop/restart of one id never run interleaved. */
  private serialize<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  private newBackend(spec: LocalBackendSpec, fingerprint: string): Backend {
    const log = this.logger.child({ extension: spec.extension, version: spec.version, backend: spec.id });
    return {
      spec,
      fingerprint,
      log,
      streamLog: { stdout: log.child({ stream: 'stdout' }), stderr: log.child({ stream: 'stderr' }) },
      logs: this.logFiles.of(spec.id),
      state: 'Starting',
      restarts: 0,
      failures: 0,
      sameFailures: 0,
      portRetries: 0,
      wanted: true,
    };
  }

  private flags(): Promise<NodeFlagSupport> {
    this.flagsPromise ??= probeNodeFlags(this.nodePath);
    return this.flagsPromise;
  }

  /** Spawns the next process of `b`; anything that keeps it from running leaves `b` Failed. */
  private async spawnInstance(b: Backend): Promise<void> {
    try {
      await this.spawnProcess(b);
    } catch (err) {
      if (b.state !== 'Failed') {
        b.wanted = false;
        this.setState(b, 'Failed', `could not start: ${(err as Error).message}`);
        b.log.error({ err }, 'backend process could not be started');
      }
      throw err;
    }
  }

  private async spawnProcess(b: Backend): Promise<void> {
    const { spec } = b;
    const flags = await this.flags();
    const confined = this.permissionModel && flags.permission !== undefined;
    if (this.permissionModel && !confined && !this.warnedUnconfined) {
      this.warnedUnconfined = true;
      this.logger.warn({ nodePath: this.nodePath }, 'this node has no permission model: extension backends run unconfined');
    }
    const args: string[] = [];
    if (confined) {
      if (!b.allow) {
        b.allow = fsAllowList(spec);
        if (b.allow.symlinkHazards.length > 0) {
          b.log.warn(
            { symlinks: b.allow.symlinkHazards },
            "directory symlinks inside the backend's readable paths: Node's permission model checks paths as written, " +
              "so '<link>/../..' reads outside them; copy dependencies into the package instead of linking them",
          );
        }
      }
      args.push(...permissionArgs(spec, b.allow, flags));
    }
    const socket = this.sockets?.pathOf(spec.id);
    // Its socket's directory, and no other: a backend can neither see nor replace another's.
    if (confined && socket) args.push(`--allow-fs-read=${socket.dir}`, `--allow-fs-write=${socket.dir}`);
    if (this.exitWithCore && flags.import) args.push('--import', exitWithCoreModule(this.stopGraceMs));
    args.push(spec.entry);

    const port = await freePort();
    const { env, dropped } = backendEnvironment(spec, confined);
    if (dropped.length > 0) b.log.warn({ dropped }, 'environment variables that would widen or bypass the permission model were not passed');
    if (spec.listeners?.length && !b.listenerPorts) {
      b.listenerPorts = {};
      for (const name of spec.listeners) b.listenerPorts[name] = await freePort();
    }
    const socketPath = socket?.path;
    Object.assign(env, runtimeEnvironment({
      port: String(port), host: '127.0.0.1', dataDir: spec.dataDir, socket: socketPath,
      ...(b.listenerPorts ? { listeners: JSON.stringify(b.listenerPorts) } : {}),
    }));

    const child = spawn(this.nodePath, args, {
      cwd: spec.packageDir,
      env,
      stdio: [this.exitWithCore ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: false,
      windowsHide: true,
    });
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once('error', resolve));
      b.wanted = false;
      this.setState(b, 'Failed', `could not start ${this.nodePath}: ${err.message}`);
      b.log.error({ err }, 'backend process could not be spawned');
      throw new Error(`backend ${spec.id} could not be spawned: ${err.message}`);
    }

    const pid = child.pid;
    let markExited!: () => void;
    const inst: Instance = {
      child,
      pid,
      port,
      url: `http://127.0.0.1:${port}`,
      ...(socketPath ? { socketPath } : {}),
      stderrTail: [],
      healthFailures: 0,
      ready: false,
      exited: new Promise<void>((resolve) => (markExited = resolve)),
      streamsClosed: Promise.all([
        new Promise<void>((resolve) => child.stdout!.once('close', resolve)),
        new Promise<void>((resolve) => child.stderr!.once('close', resolve)),
      ]).then(() => undefined),
    };
    b.proc = inst;
    this.recordPid(b, () => this.pidFile?.add({ pid, id: spec.id, entry: spec.entry, startTime: processStartTime(pid) }));

    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter((line) => this.onLine(b, inst, stream, line));
      child[stream]!.on('data', (chunk: Buffer) => splitter.push(chunk));
      child[stream]!.once('end', () => splitter.end());
    }
    child.stdin?.on('error', () => {});
    child.on('error', (err) => b.log.warn({ err, pid }, 'backend process error'));
    child.once('exit', (code, signal) => {
      inst.exitInfo = { code, signal };
      clearTimeout(inst.healthTimer);
      clearTimeout(inst.startupTimer);
      child.stdin?.destroy();
      this.recordPid(b, () => this.pidFile?.remove(pid));
      markExited();
      // The sockets' directory lasts as long as a backend process runs (a next start makes a new one).
      if (![...this.backends.values()].some((x) => x.proc && !x.proc.exitInfo)) this.sockets?.remove();
      this.afterExit(b, inst).catch((err: unknown) => b.log.error({ err }, 'handling the exit of a backend failed'));
    });

    await new Promise<void>((resolve) => {
      child.once('spawn', resolve);
      child.once('error', () => resolve());
    });

    b.log.info({ pid, port, confined, restarts: b.restarts }, 'backend process started');
    this.setState(b, 'Starting', b.state === 'Restarting' ? b.message : undefined);
    if (inst.exitInfo) return; // died at once: afterExit takes it from here
    inst.startupTimer = setTimeout(() => {
      if (inst.ready || inst.exitInfo || b.proc !== inst) return;
      inst.killReason = 'startup-timeout';
      b.log.warn({ pid, lastHealthError: inst.lastHealthError }, `backend not ready within ${this.startupTimeoutMs} ms: killing it`);
      void this.terminate(inst);
    }, this.startupTimeoutMs);
    inst.startupTimer.unref();
    this.scheduleHealth(b, inst, Math.min(this.healthIntervalMs, STARTING_POLL_MAX_MS));
  }

  /** The pid file is a safety net: failing to write it is logged, never fatal. */
  private recordPid(b: Backend, write: () => void): void {
    try {
      write();
    } catch (err) {
      b.log.warn({ err, path: this.pidFile?.path }, 'could not update the pid file');
    }
  }

  private async afterExit(b: Backend, inst: Instance): Promise<void> {
    // Let the pipes drain so the last stderr lines (the reason) are in.
    await within(inst.streamsClosed, 250);
    const { code, signal } = inst.exitInfo!;
    const reason =
      inst.killReason === 'startup-timeout'
        ? `not ready within ${this.startupTimeoutMs} ms${inst.lastHealthError ? ` (${inst.lastHealthError})` : ''}`
        : describeExit(code, signal, lastMeaningfulLine(inst.stderrTail));
    if (inst.killReason === 'stop' || !b.wanted || b.proc !== inst) {
      b.log.info({ pid: inst.pid, code, signal }, 'backend process ended');
      return; // stop() owns the state from here
    }
    b.proc = undefined;
    clearTimeout(b.resetTimer);
    b.resetTimer = undefined;
    b.sameFailures = !inst.ready && reason === b.lastExit ? b.sameFailures + 1 : inst.ready ? 0 : 1;
    b.lastExit = reason;
    if (!inst.ready && !inst.killReason && b.portRetries < MAX_PORT_RETRIES && inst.stderrTail.some((l) => l.includes('EADDRINUSE'))) {
      b.portRetries++;
      b.listenerPorts = undefined; // a listener's port may be the one taken
      this.scheduleRestart(b, 0, `${reason} (port ${inst.port} was taken: retrying on another port)`);
      return;
    }
    const wait = Math.min(this.baseMs * 2 ** b.failures, this.maxMs);
    b.failures++;
    // The same failure on every start: say so at once instead of retrying silently until a timeout.
    const looping = b.sameFailures >= CRASH_LOOP_AFTER;
    this.scheduleRestart(b, wait, looping ? `crash-looping: ${b.sameFailures} starts ended the same way before it was ready: ${reason}` : reason, looping);
  }

  private scheduleRestart(b: Backend, wait: number, reason: string, crashLooping = false): void {
    b.nextRestartAt = new Date(Date.now() + wait).toISOString();
    b.log.warn({ restarts: b.restarts, delayMs: wait, crashLooping }, `backend ${reason}; restarting in ${wait} ms`);
    b.crashLooping = crashLooping;
    this.setState(b, 'Restarting', reason);
    b.restartTimer = setTimeout(() => {
      b.restartTimer = undefined;
      this.serialize(b.spec.id, () => this.respawn(b)).catch((err: unknown) => b.log.error({ err }, 'backend restart failed'));
    }, wait);
  }

  private async respawn(b: Backend): Promise<void> {
    if (!b.wanted || this.backends.get(b.spec.id) !== b || b.proc) return;
    b.restarts++;
    await this.spawnInstance(b);
  }

  private async stopBackend(b: Backend, explicit: boolean): Promise<void> {
    b.wanted = false;
    clearTimeout(b.restartTimer);
    clearTimeout(b.resetTimer);
    b.restartTimer = b.resetTimer = undefined;
    const inst = b.proc;
    if (inst) {
      inst.killReason = 'stop';
      clearTimeout(inst.healthTimer);
      clearTimeout(inst.startupTimer);
      await this.terminate(inst);
      if (b.proc === inst) b.proc = undefined;
    }
    if (b.state !== 'Stopped' && (explicit || b.state !== 'Failed')) {
      b.log.info(explicit ? 'backend stopped' : 'backend replaced');
      this.setState(b, 'Stopped', undefined);
    }
  }

  /** SIGTERM, then SIGKILL after the grace; resolves once the process has exited. */
  private async terminate(inst: Instance): Promise<void> {
    if (inst.exitInfo) return;
    inst.child.kill('SIGTERM');
    if (await within(inst.exited, this.stopGraceMs)) return;
    inst.child.kill('SIGKILL');
    await inst.exited;
  }

  // ---- health -------------------------------------------------------------------------------

  private scheduleHealth(b: Backend, inst: Instance, wait: number): void {
    inst.healthTimer = setTimeout(() => void this.checkHealth(b, inst), wait);
    inst.healthTimer.unref();
  }

  private async checkHealth(b: Backend, inst: Instance): Promise<void> {
    inst.healthTimer = undefined;
    const current = () => !inst.exitInfo && !inst.killReason && b.proc === inst;
    if (!current()) return;
    const failure = await probeHealth(inst.url, b.spec.healthPath, this.healthTimeoutMs);
    if (!current()) return;
    if (failure === undefined) {
      inst.healthFailures = 0;
      if (!inst.ready && inst.socketPath) {
        // Before it is Ready (and routes name its URL): whether requests may go to its socket.
        inst.servesSocket = (await probeHealth(inst.url, b.spec.healthPath, this.healthTimeoutMs, inst.socketPath)) === undefined;
        if (!current()) return;
      }
      if (b.state !== 'Ready') {
        const first = !inst.ready;
        inst.ready = true;
        b.crashLooping = false;
        b.sameFailures = 0;
        clearTimeout(inst.startupTimer);
        b.portRetries = 0;
        b.log.info({ url: inst.url, ...(inst.servesSocket ? { socketPath: inst.socketPath } : {}) }, first ? 'backend ready' : 'backend healthy again');
        this.setState(b, 'Ready', undefined);
        this.armBackoffReset(b);
      }
    } else {
      inst.lastHealthError = failure;
      if (b.state === 'Starting') {
        b.message = `not ready yet: ${failure}`;
      } else {
        inst.healthFailures++;
        const message = `health check failed ${inst.healthFailures} time${inst.healthFailures === 1 ? '' : 's'} in a row: ${failure}`;
        if (b.state === 'Ready' && inst.healthFailures >= UNHEALTHY_AFTER) {
          clearTimeout(b.resetTimer);
          b.resetTimer = undefined;
          b.log.warn({ failure }, 'backend unhealthy');
          this.setState(b, 'Unhealthy', message);
        } else if (b.state === 'Unhealthy') {
          b.message = message;
        }
      }
    }
    this.scheduleHealth(b, inst, b.state === 'Starting' ? Math.min(this.healthIntervalMs, STARTING_POLL_MAX_MS) : this.healthIntervalMs);
  }

  /** The backoff exponent goes back to 0 once the backend has stayed Ready for `resetAfterMs`. */
  private armBackoffReset(b: Backend): void {
    clearTimeout(b.resetTimer);
    b.resetTimer = undefined;
    if (b.failures === 0) return;
    b.resetTimer = setTimeout(() => {
      b.resetTimer = undefined;
      if (b.state === 'Ready') b.failures = 0;
    }, this.resetAfterMs);
    b.resetTimer.unref();
  }

  // ---- logs and status ----------------------------------------------------------------------

  private onLine(b: Backend, inst: Instance, stream: BackendLogLine['stream'], line: string): void {
    const entry = b.logs.append({ stream, line });
    if (this.listenerCount('log') > 0) this.emit('log', b.spec.id, entry);
    if (stream === 'stderr') {
      inst.stderrTail.push(line);
      if (inst.stderrTail.length > STDERR_TAIL) inst.stderrTail.shift();
    }
    const log = b.streamLog[stream];
    const fallback: LevelName = stream === 'stderr' ? 'warn' : 'info';
    const fields = jsonObjectLine(line);
    if (fields) {
      const msg = typeof fields.msg === 'string' ? fields.msg : typeof fields.message === 'string' ? fields.message : '';
      log[levelOf(fields.level) ?? fallback]({ fields }, '%s', msg);
    } else {
      log[fallback]('%s', line);
    }
  }

  private snapshot(b: Backend): BackendStatus {
    const s: BackendStatus = { id: b.spec.id, extension: b.spec.extension, version: b.spec.version, state: b.state, restarts: b.restarts };
    if (b.proc && !b.proc.exitInfo) {
      s.url = b.proc.url;
      s.pid = b.proc.pid;
      if (b.proc.servesSocket) s.socketPath = b.proc.socketPath;
    }
    if (b.listenerPorts) s.listeners = { ...b.listenerPorts };
    if (b.message) s.message = b.message;
    if (b.crashLooping) s.crashLooping = true;
    if (b.state === 'Restarting' && b.nextRestartAt) s.nextRestartAt = b.nextRestartAt;
    return s;
  }

  private setState(b: Backend, state: BackendState, message: string | undefined): void {
    const changed = b.state !== state;
    b.state = state;
    b.message = message;
    if (state !== 'Restarting') b.nextRestartAt = undefined;
    if (changed) this.emitStatus(b);
  }

  private emitStatus(b: Backend): void {
    try {
      this.emit('status', this.snapshot(b));
    } catch (err) {
      b.log.error({ err }, 'a status listener threw');
    }
  }
}
