import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withChildren } from './cpu.js';
import { callgrindArgs } from './instructions.js';
import { freePort, killAtExit } from './processes.js';

export interface RunningNginx {
  url: string;
  /** The worker's pid (whose CPU the benchmark reads). */
  workerPid(): number | undefined;
  stop(): Promise<void>;
}

/**
 * Debian's nginx as a reverse proxy in front of `upstream`, the way one is run in production:
 * one worker, HTTP/1.1 keep-alive connections to the upstream, no access log. Everything it
 * writes stays in a temporary directory. `forwarded`: it also tells the backend who asked and
 * how (Host, X-Forwarded-For/-Proto/-Host/-Prefix), as a proxy in front of an application
 * usually does and the gateway always does. `buffered`: answers proxied buffered (nginx's
 * default; in memory only, as the mesh's plane proxies them), else unbuffered (as the core's edge).
 */
export async function startNginx(upstream: string, prefix: string, opts: { forwarded?: boolean; callgrind?: boolean; socket?: string; buffered?: boolean } = {}): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-bench-nginx-'));
  const port = await freePort();
  const up = new URL(upstream);
  // `socket`: the backend's Unix socket rather than its port, as the core's edge reaches it. Its
  // directory is the core's user's alone: run as root, the workers must stay that user.
  const server = opts.socket ? `unix:${opts.socket}` : `${up.hostname}:${up.port}`;
  const user = opts.socket && process.getuid?.() === 0 ? 'user root root;\n' : '';
  const conf = `${user}worker_processes 1;
daemon off;${opts.callgrind ? '\nmaster_process off;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream backend { server ${server}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location ${prefix}/ {
      proxy_pass http://backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${opts.buffered ? 'proxy_buffering on;\n      proxy_max_temp_file_size 0;' : 'proxy_buffering off;'}${opts.forwarded ? `
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Prefix ${prefix};` : ''}
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const args = ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')];
  // callgrind: one process (no master), under valgrind, counting instructions (instructions.ts).
  const child: ChildProcess = opts.callgrind
    ? spawn('valgrind', [...callgrindArgs(dir), 'nginx', ...args], { stdio: ['ignore', 'ignore', 'ignore'] })
    : spawn('nginx', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  // A bench that dies leaves no nginx: its master and its workers (which outlive a killed master).
  const forget = killAtExit(() => withChildren(child.pid));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${safeRead(join(dir, 'error.log'))}`);
    try {
      await fetch(`${url}/`);
      break;
    } catch {
      if (i > (opts.callgrind ? 1200 : 200)) throw new Error(`nginx did not start: ${safeRead(join(dir, 'error.log'))}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    url,
    workerPid: () => {
      if (opts.callgrind) return child.pid;
      const children = safeRead(`/proc/${child.pid}/task/${child.pid}/children`).trim().split(/\s+/).filter(Boolean);
      return children.length ? Number(children[0]) : undefined;
    },
    stop: () => new Promise<void>((resolve) => {
      const done = () => {
        forget();
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGQUIT');
    }),
  };
}

/** The prefix directory (`-p`) of a running nginx, from its command line (nginx rewrites it as "nginx: master process /usr/sbin/nginx -p …"). */
export function nginxPrefixOf(pid: number): string {
  const words = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
  return words[words.indexOf('-p') + 1]!;
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
