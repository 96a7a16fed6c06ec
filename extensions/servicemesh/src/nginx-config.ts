import type { CompiledRoute, ServiceRouting } from './routing.js';
import type { StringMatch } from './types.js';

// The native data plane's configuration, in two parts. nginx.conf (nginxConfig) is written once
// when nginx starts and does not depend on the rules: the listener, the Lua module (nginx-lua.ts),
// one upstream whose peer Lua picks (balancer_by_lua, with a keep-alive pool), and a location per
// kind of retry policy (proxy_next_upstream cannot be set per request). Each service's rules are
// a Lua table literal (serviceRules) the backend pushes into nginx's shared dict through the
// control socket, so a rule change never reloads nginx.

export interface NginxOptions {
  /** The directory nginx runs in (-p): pid, temp dirs, error log, the Lua module, the control socket. */
  dir: string;
  port: number;
  host?: string;
  /** The access log of sampled spans the backend follows (nginx writes it in 64 KiB batches, at least every 100 ms). */
  logFile: string;
  /** The unix socket of the control server (in a directory only the backend's user may enter). */
  controlSocket: string;
  /** Where Debian's dynamic modules are (ndk_http_module.so, ngx_http_lua_module.so). */
  modulesDir: string;
  /** Where lua-resty-core is (lua_package_path; Debian's by default). */
  luaPath?: string;
  workerProcesses?: number | 'auto';
}

/** The JSON line a request of a sampled trace is logged as (only those are). */
export interface NginxLogLine {
  /** End of the request, seconds since the epoch with ms. */
  t: string; h: string; v: string; s: string; rt: string; ua: string; us: string; m: string; u: string;
  /** The traceparent sent on: the trace id and this hop's span id. */
  tp: string;
  pa: string; src: string; f?: string;
  /** A mirrored request's duration (ms) when its answer ended before its copy; its end is then t − rt + md. */
  md?: string;
}

/** A string as a Lua literal: printable ASCII as is, every other byte as \ddd (so anything a rule holds can be written). */
export function luaString(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\${String(b).padStart(3, '0')}`;
  }
  return `${out}"`;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A StringMatch as a PCRE regex matching the whole value (regexes are anchored, as compileRegex does). */
export function matchRegex(m: StringMatch): string {
  if ('exact' in m) return `^${escapeRegex(m.exact)}$`;
  if ('prefix' in m) return `^${escapeRegex(m.prefix)}`;
  return `^(?:${m.regex})$`;
}

/** The nginx variable holding a request header (`http_x_user`) or a cookie (`cookie_group`). */
export function headerVariable(name: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(name)) throw new Error(`header "${name}": nginx can match only headers named with letters, digits and "-"`);
  return `http_${name.toLowerCase().replace(/-/g, '_')}`;
}
export function cookieVariable(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`cookie "${name}": nginx can match only cookies named with letters, digits, "_" and "-"`);
  return `cookie_${name}`;
}

/** A condition as the Lua module reads it: {1 variable | 2 path, variable, 1 exact | 2 prefix | 3 regex, value}. */
function condition(variable: string | undefined, m: StringMatch): string {
  const head = variable === undefined ? '2,""' : `1,${luaString(variable)}`;
  if ('exact' in m) return `{${head},1,${luaString(m.exact)}}`;
  if ('prefix' in m) return `{${head},2,${luaString(m.prefix)}}`;
  return `{${head},3,${luaString(matchRegex(m))}}`;
}

const retryConditions: Record<string, string[]> = {
  '5xx': ['http_500', 'http_502', 'http_503', 'http_504'],
  'gateway-error': ['http_502', 'http_503', 'http_504'],
  'connect-failure': ['error'],
  reset: ['error'],
  // nginx cannot retry on 409 (proxy_next_upstream knows 403, 404 and 429 among 4xx).
  'retriable-4xx': [],
};

/**
 * The retry policies nginx's configuration has a location for: `n` (no retries: an idempotent
 * request that got no answer is sent once more), else `t` (timeout) with `e` (connection errors)
 * and `5` (any 5xx) or `g` (502–504). Each also with `_m` (mirrored).
 */
export const retryVariants = ['n', 't', 'te', 't5', 'tg', 'te5', 'teg'] as const;

export function retryVariant(route: CompiledRoute | undefined): string {
  const retries = route?.retries;
  if (!retries || retries.attempts < 1) return 'n';
  const on = new Set((retries.retryOn ?? ['5xx', 'connect-failure', 'reset']).flatMap((c) => retryConditions[c] ?? []));
  return `t${on.has('error') ? 'e' : ''}${on.has('http_500') ? '5' : on.has('http_502') ? 'g' : ''}`;
}

function nextUpstream(variant: string): string {
  if (variant === 'n') return 'error';
  const on = ['timeout', 'non_idempotent'];
  if (variant.includes('e')) on.push('error');
  if (variant.includes('5')) on.push('http_500');
  if (variant.includes('5') || variant.includes('g')) on.push('http_502', 'http_503', 'http_504');
  return on.join(' ');
}

/** An endpoint URL as the address the balancer connects to (http only). */
export function endpointAddress(url: string): { host: string; port: number } {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`endpoint ${url}: the nginx data plane proxies to http:// endpoints only`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || '80') };
}

/**
 * A service's compiled rules as a Lua table literal (what nginx-lua.ts reads); throws when nginx
 * cannot express one of them. `ip` resolves an endpoint's host name to the address nginx connects to.
 */
export function serviceRules(r: ServiceRouting, ip: (host: string) => string = (h) => h): string {
  const key = `${r.service}.${r.namespace}`;
  if (!/^[a-z0-9.-]+$/.test(key)) throw new Error(`host ${key}: not a DNS name`);
  const versions = [...r.versions].map(([version, urls]) => {
    if (urls.length === 0) throw new Error(`version ${version} has no endpoints`);
    const eps = urls.map((u) => {
      const a = endpointAddress(u);
      return `{${luaString(ip(a.host))},${a.port},${luaString(u)}}`;
    });
    return `[${luaString(version)}]={${eps.join(',')}}`;
  });
  const routes = r.routes.map((route) => {
    const f: string[] = [];
    if (route.match.length > 0) {
      const alternatives = route.match.map((m) => {
        const conds: string[] = [];
        if (m.pathPrefix) conds.push(condition(undefined, { prefix: m.pathPrefix }));
        for (const [name, , spec] of m.headers) conds.push(condition(headerVariable(name), spec));
        for (const [name, , spec] of m.cookies) conds.push(condition(cookieVariable(name), spec));
        return `{${conds.join(',')}}`;
      });
      f.push(`match={${alternatives.join(',')}}`);
    }
    f.push(`versions={${route.versions.map(luaString).join(',')}}`, `cum={${route.cumulative.join(',')}}`);
    const variant = retryVariant(route);
    f.push(`variant=${luaString(variant)}`);
    if (variant !== 'n') f.push(`tries=${1 + route.retries!.attempts}`);
    const perTry = route.retries?.perTryTimeoutMs;
    if (perTry) f.push(`perTry=${Math.max(1, Math.round(perTry))}`);
    if (route.timeoutMs) f.push(`timeout=${Math.max(1, Math.round(route.timeoutMs))}`);
    const abort = route.fault?.abort;
    if (abort) {
      if (abort.httpStatus < 200 || abort.httpStatus > 599) throw new Error(`fault abort status ${abort.httpStatus}: nginx returns 200–599`);
      f.push(`abort={${abort.percent},${abort.httpStatus}}`);
    }
    const delay = route.fault?.delay;
    if (delay) f.push(`delay={${delay.percent},${Math.max(0, Math.round(delay.fixedDelayMs))}}`);
    if (route.mirror) f.push(`mirror={${luaString(route.mirror.version)},${route.mirror.percent}}`);
    return `{${f.join(',')}}`;
  });
  const fields = [
    `service=${luaString(r.service)}`, `namespace=${luaString(r.namespace)}`, `tag=${luaString(r.tag)}`,
    `default=${luaString(r.defaultVersion)}`, `versions={${versions.join(',')}}`, `routes={${routes.join(',')}}`,
  ];
  const od = r.breaker?.outlierDetection;
  if (od) fields.push(`od={n=${od.consecutive5xxErrors ?? 5},base=${od.baseEjectionTimeMs ?? 30_000},max=${od.maxEjectionPercent ?? 100}}`);
  const limit = r.breaker?.connectionPool?.maxRequests;
  if (limit !== undefined) fields.push(`maxRequests=${limit}`);
  const connections = r.breaker?.connectionPool?.maxConnections;
  if (connections !== undefined) fields.push(`maxConnections=${connections}`);
  const pending = r.breaker?.connectionPool?.maxPendingRequests;
  if (pending !== undefined) fields.push(`maxPending=${pending}`);
  const g = r.gray;
  if (g) {
    const weight = g.phase === 'Promoted' ? 100 : g.phase === 'RolledBack' || g.strategy === 'mirror' ? 0 : g.canaryWeight;
    const gf = [`stable=${luaString(g.stable)}`, `canary=${luaString(g.canary)}`, `weight=${weight}`];
    if (g.header && g.phase === 'Progressing' && g.strategy !== 'mirror') gf.push(`header=${condition(headerVariable(g.header[0]), g.header[2])}`);
    if (g.phase === 'Progressing' && g.strategy === 'mirror') gf.push(`mirror={${luaString(g.canary)},100}`);
    fields.push(`gray={${gf.join(',')}}`);
  }
  return `return {${fields.join(',')}}`;
}

/** nginx.conf: the same whatever the rules (they are pushed to the running nginx). */
export function nginxConfig(o: NginxOptions): string {
  const d = o.dir;
  const proxy = `proxy_pass http://mesh_upstream;`;
  const variants = retryVariants.flatMap((v) => [v, `${v}_m`]).filter((v) => v !== 'n');
  const named = variants.map((v) => {
    const base = v.replace(/_m$/, '');
    // A mirrored request's places and time end with its answer, not with its copy (mesh.sent()).
    const mirrored = v.endsWith('_m') ? '      mirror /.mesh/mirror;\n      body_filter_by_lua_block { mesh.sent() }\n' : '';
    return `    location @${v} {\n${mirrored}      proxy_next_upstream ${nextUpstream(base)};\n      ${proxy}\n    }`;
  });
  return `# Written by the servicemesh extension when nginx starts; the rules are pushed to the running nginx.
load_module ${o.modulesDir}/ndk_http_module.so;
load_module ${o.modulesDir}/ngx_http_lua_module.so;
worker_processes ${o.workerProcesses ?? 1};
pcre_jit on;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  keepalive_timeout 65s;
  keepalive_requests 100000;
  # A request's memory pool made big enough at once for what the Lua module and the proxying
  # allocate from it: with nginx's 4k it grew by two blocks a request (a malloc and a free each,
  # ~1,400 instructions a request in all). Only requests in flight hold one.
  request_pool_size 16k;
  client_max_body_size 16m;
  server_tokens off;
  access_log off;

  lua_package_path "${d}/lua/?.lua;${o.luaPath ?? '/usr/share/lua/5.1/?.lua;;'}";
  lua_shared_dict mesh_rules 32m;
  lua_shared_dict mesh_live 32m;
  lua_shared_dict mesh_health 4m;
  init_by_lua_block { mesh = require "mesh" }
  init_worker_by_lua_block { mesh.init_worker() }

  # What the Lua module sets for a request. The names are short on purpose: nginx hashes a
  # variable's name each time Lua sets or reads it (ngx.var), at a cost per character.
  #   $mr  a mirrored request's number: its copy's key to what route() decided, in the worker's table
  #   $mv  the version it was sent to (x-mesh-version)     $mt  the traceparent sent on
  #   $ml  "1": its trace is sampled, its span logged       $mp  its parent span's id, if any
  #   $mf  the fault injected (abort, delay), logged        $ms  a mirrored copy's Host (<host>-shadow)
  #   $md  a mirrored request's duration in ms, when its answer ended before its copy
  # (x-mesh-fault is added by Lua, to the requests a fault is injected into only.)
  log_format mesh escape=json '{"t":"$msec","h":"$host","v":"$mv","s":"$status","rt":"$request_time","ua":"$upstream_addr","us":"$upstream_status","m":"$request_method","u":"$request_uri","tp":"$mt","pa":"$mp","src":"$http_x_mesh_source","f":"$mf","md":"$md"}';

  # Every version's endpoints: the peer is picked per try by the Lua module (ejected ones left out).
  upstream mesh_upstream {
    server 0.0.0.1;
    balancer_by_lua_block { mesh.balance() }
    # Idle upstream connections closed after 4 s: before Node's server does (5 s by default), so
    # nginx never sends a request on a connection the endpoint is closing.
    keepalive 256;
    keepalive_timeout 4s;
  }
  upstream mesh_mirror {
    server 0.0.0.1;
    balancer_by_lua_block { mesh.balance_mirror() }
    keepalive 64;
    keepalive_timeout 4s;
  }

  proxy_http_version 1.1;
  # An endpoint's answer is passed on as it is (as Envoy does): nginx would otherwise take
  # X-Accel-Redirect in it as an internal redirect of the caller's request to any location (the
  # mirror's, a retry policy's), and the rest of X-Accel-* as orders on rate, buffering, charset.
  proxy_ignore_headers X-Accel-Redirect X-Accel-Expires X-Accel-Limit-Rate X-Accel-Buffering X-Accel-Charset;
  # Answers proxied buffered (nginx's default), in memory only: what is read from the endpoint is
  # written on at once (each write of a stream reaches the caller as it comes), and an answer read
  # whole with its header leaves in one write. Unbuffered, nginx writes a chunked answer's
  # terminating chunk in a write of its own: a system call and a wake-up of the caller more per
  # answer (docs/servicemesh.md). With its buffers full (a slow caller), nginx stops reading the
  # endpoint until the caller has taken them; nothing goes to a temporary file.
  proxy_buffering on;
  proxy_max_temp_file_size 0;
  proxy_set_header Connection "";
  # The caller's Host goes on as it came (Envoy keeps the authority); the endpoint needs no more.
  proxy_set_header Host $host;
  proxy_set_header traceparent $mt;
  proxy_set_header x-mesh-source "";

  server {
    listen ${o.host ?? '127.0.0.1'}:${o.port} default_server;
    add_header x-mesh-version $mv always;
    access_log ${o.logFile} mesh buffer=64k flush=100ms if=$ml;
    log_by_lua_block { mesh.log() }

    uninitialized_variable_warn off;

    location / {
      access_by_lua_block { mesh.route() }
      proxy_next_upstream error;
      ${proxy}
    }
${named.join('\n')}
    # The variables the Lua module sets, declared by a location no request reaches (a variable
    # is declared by any \`set\`; none is then set for every request, and an unset one reads empty).
    location = /.mesh/variables {
      internal;
      set $mr "";
      set $mv "";
      set $mt "";
      set $ml "";
      set $mp "";
      set $mf "";
      set $ms "";
      set $md "";
    }
    location = /.mesh/mirror {
      internal;
      log_subrequest on;
      access_log off;
      # proxy_set_header here replaces the inherited ones: all of them again.
      proxy_set_header Connection "";
      proxy_set_header Host $ms;
      proxy_set_header traceparent $mt;
      proxy_set_header x-mesh-source "";
      proxy_next_upstream off;
      proxy_pass http://mesh_mirror$request_uri;
    }
  }

  # The control server: only the backend can reach its socket (its directory is 0700).
  server {
    listen unix:${o.controlSocket};
    client_max_body_size 64m;
    client_body_buffer_size 64m;
    location = /rules { content_by_lua_block { mesh.put_rules() } }
    location = /telemetry { content_by_lua_block { mesh.take_telemetry() } }
    location = /endpoints { content_by_lua_block { mesh.endpoints() } }
    location = /jit { content_by_lua_block { mesh.jit_report() } }
  }
}
`;
}
