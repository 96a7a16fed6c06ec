import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

// Steps are untrusted code. Each runs in bubblewrap: new mount, pid, ipc, uts and user
// namespaces, uid/gid 65534, a root made only of the system's read-only directories, the run's
// workspace as the one writable place (/workspace), a private /tmp, and nothing else of the
// host — so the core's data directory (database, keys), other runs' workspaces and other
// extensions' files do not exist inside.

const systemDirs = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc'];

export interface SandboxOptions {
  /** Host directory mounted read-write at /workspace. */
  workspace: string;
  env: Record<string, string>;
  /** Host directories mounted read-only at the same path (allowed local git repositories). */
  readOnly?: string[];
  /** Keep the host network (checkout of a remote repository). */
  network?: boolean;
  /** The bubblewrap binary; default "bwrap" on the PATH. */
  bwrapPath?: string;
}

export function sandboxedCommand(script: string, o: SandboxOptions): { cmd: string; args: string[] } {
  const args: string[] = [];
  for (const d of systemDirs) args.push('--ro-bind-try', d, d);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--bind', o.workspace, '/workspace');
  for (const d of o.readOnly ?? []) args.push('--ro-bind', d, d);
  args.push('--unshare-all', ...(o.network ? ['--share-net'] : []), '--uid', '65534', '--gid', '65534');
  args.push('--die-with-parent', '--new-session', '--chdir', '/workspace', '--clearenv');
  for (const [k, v] of Object.entries({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/workspace', ...o.env })) args.push('--setenv', k, v);
  args.push('/bin/sh', '-c', script);
  return { cmd: o.bwrapPath ?? 'bwrap', args };
}

/** The same command without a sandbox (only when an administrator opted in). */
export function unconfinedCommand(script: string, o: SandboxOptions): { cmd: string; args: string[]; cwd: string; env: Record<string, string> } {
  return { cmd: '/bin/sh', args: ['-c', script], cwd: o.workspace, env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: o.workspace, ...o.env } };
}

/**
 * Checks at start that the sandbox works and hides what it must: a probe writes in its
 * workspace and must not see `hidden` (a file of the backend's own data directory).
 */
export function probeSandbox(workspace: string, hidden: string, bwrapPath?: string): { ok: boolean; reason?: string } {
  const { cmd, args } = sandboxedCommand(`echo ok > probe && test ! -e '${hidden.replace(/'/g, "'\\''")}' && id -u`, { workspace, env: {}, bwrapPath });
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, reason: `bubblewrap could not be started: ${r.error.message} (install the Debian package "bubblewrap")` };
  if (r.status !== 0) return { ok: false, reason: `bubblewrap failed (${r.status}): ${(r.stderr || '').trim().slice(0, 300)}` };
  if (r.stdout.trim() !== '65534') return { ok: false, reason: `the sandboxed probe ran as uid ${r.stdout.trim()}, not 65534` };
  return { ok: true };
}

export function startProcess(script: string, o: SandboxOptions, confined: boolean): ChildProcess {
  if (confined) {
    const { cmd, args } = sandboxedCommand(script, o);
    return spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: {}, detached: true });
  }
  const u = unconfinedCommand(script, o);
  return spawn(u.cmd, u.args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: u.cwd, env: u.env, detached: true });
}
