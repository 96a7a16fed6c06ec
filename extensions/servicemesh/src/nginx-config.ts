import type { CompiledRoute, ServiceRouting } from './routing.js';
import type { StringMatch } from './types.js';

// The native data plane's configuration: the mesh's compiled routing (routing.ts) written as an
// nginx configuration. A service is a `server` (server_name <service>.<namespace>), a version an
// `upstream` with keep-alive connections, weights `split_clients` on $request_id, header/cookie
// matches `map`s whose bits are joined into the route taken, a route an internal location with
// its retries (proxy_next_upstream), timeouts, fault and mirror. Everything per request is
// logged as a JSON line to a buffered file the backend follows and turns into spans and telemetry.
// Maps and split_clients are evaluated only when a request reads their variable, so a service's
// rules cost nothing to the others.

export interface NginxOptions {
  /** The directory nginx runs in (-p): pid, temp dirs and error log live there. */
  dir: string;
  port: number;
  host?: string;
  /** The access log the backend follows (nginx writes it in 64 KiB batches, at least every 100 ms). */
  logFile: string;
  /** The backend's fault-delay server (it waits, then sends the request back with X-Accel-Redirect). */
  delayUrl?: string;
  /** Endpoints (their URL) ejected now: written `down`. */
  ejected?: Set<string>;
  generation: number;
  workerProcesses?: number | 'auto';
}

/** One service's part of the configuration (its maps and upstreams, its server). */
export interface ServiceConfig { key: string; http: string; server: string }

/** The JSON line every request is logged as. */
export interface NginxLogLine {
  /** End of the request, seconds since the epoch with ms. */
  t: string; h: string; v: string; s: string; rt: string; ua: string; us: string; m: string; u: string;
  tr?: string; sp?: string; pa: string; src: string; f?: string;
  /** Set on a mirrored copy: its location, ending with the version. */
  mi?: string;
}

/** How many times an endpoint is listed in its upstream: a retry may then go to it again. */
const MAX_LISTED = 8;

/** A string in double quotes as nginx's parser reads it back (it unescapes \" and \\ only; \t \n \r become those characters, which a regex reads the same). */
export function quote(s: string): string {
  // A control character other than tab cannot be written in nginx's configuration.
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(s)) throw new Error(`${JSON.stringify(s)} contains a control character, which nginx's configuration cannot hold`);
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A StringMatch as a PCRE regex matching the whole value (regexes are anchored, as compileRegex does). */
export function matchRegex(m: StringMatch): string {
  if ('exact' in m) return `^${escapeRegex(m.exact)}$`;
  if ('prefix' in m) return `^${escapeRegex(m.prefix)}`;
  return `^(?:${m.regex})$`;
}

/** The nginx variable holding a request header (`$http_x_user`) or a cookie. */
export function headerVariable(name: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(name)) throw new Error(`header "${name}": nginx can match only headers named with letters, digits and "-"`);
  return `$http_${name.toLowerCase().replace(/-/g, '_')}`;
}
export function cookieVariable(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`cookie "${name}": nginx can match only cookies named with letters, digits, "_" and "-"`);
  return `\${cookie_${name}}`;
}

const ms = (n: number) => `${Math.max(1, Math.round(n))}ms`;

/** An endpoint URL as an upstream server address (http only: a version is one upstream). */
export function serverAddress(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`endpoint ${url}: the nginx data plane proxies to http:// endpoints only`);
  return `${u.hostname.startsWith('[') ? u.hostname : u.hostname}:${u.port || '80'}`;
}

/** A `split_clients` choosing among values by weight (percent), or the value when only one has weight. */
function split(name: string, salt: string, choices: Array<[string, number]>): string {
  const live = choices.filter(([, w]) => w > 0);
  if (live.length <= 1) return `map "" ${name} { default ${quote(live[0]?.[0] ?? choices[choices.length - 1]![0])}; }\n`;
  const lines = live.map(([v, w], i) => `  ${i === live.length - 1 ? '*' : `${+w.toFixed(2)}%`} ${quote(v)};`);
  return `split_clients "\${request_id}${salt}" ${name} {\n${lines.join('\n')}\n}\n`;
}

const retryConditions: Record<string, string[]> = {
  '5xx': ['http_500', 'http_502', 'http_503', 'http_504'],
  'gateway-error': ['http_502', 'http_503', 'http_504'],
  'connect-failure': ['error'],
  reset: ['error'],
  // nginx cannot retry on 409 (proxy_next_upstream knows 403, 404 and 429 among 4xx).
  'retriable-4xx': [],
};

/** The service's configuration; throws when nginx cannot express one of its rules. */
export function serviceConfig(r: ServiceRouting, index: number, o: NginxOptions): ServiceConfig {
  const p = `s${index}`;
  const key = `${r.service}.${r.namespace}`;
  if (!/^[a-z0-9.-]+$/.test(key)) throw new Error(`host ${key}: not a DNS name`);
  let http = `# ${key} (generation ${r.generation})\n`;
  const retried = Math.max(1, ...r.routes.map((rt) => 1 + (rt.retries?.attempts ?? 0)));
  // At least twice: a request whose kept-alive connection broke is sent again (see below).
  const listed = Math.min(MAX_LISTED, Math.max(2, retried));
  const maxConns = r.breaker?.connectionPool?.maxConnections;
  for (const [version, urls] of r.versions) {
    if (!/^[a-z0-9-]+$/.test(version)) throw new Error(`version "${version}": not a DNS label`);
    if (urls.length === 0) throw new Error(`version ${version} has no endpoints`);
    const live = urls.filter((u) => !o.ejected?.has(u));
    // Every endpoint ejected: all serve (Envoy's panic threshold, as the Node plane).
    const down = (u: string) => live.length > 0 && o.ejected?.has(u);
    const per = maxConns === undefined ? '' : ` max_conns=${Math.max(1, Math.ceil(maxConns / listed))}`;
    const lines: string[] = [];
    // Interleaved (a b a b), so a retry goes to the next endpoint first, as round robin does.
    for (let i = 0; i < listed; i++) for (const u of urls) lines.push(`  server ${serverAddress(u)} max_fails=0${per}${down(u) ? ' down' : ''};`);
    // Idle upstream connections closed after 4 s: before Node's server does (5 s by default), so
    // nginx never sends a request on a connection the endpoint is closing (a 502 without retries).
    http += `upstream ${p}-${version} {\n${lines.join('\n')}\n  keepalive 64;\n  keepalive_timeout 4s;\n}\n`;
  }

  // The version a request goes to when a GrayRelease is in force (its header first, then its weight).
  const g = r.gray;
  let grayVar: string | undefined;
  if (g) {
    grayVar = `$${p}_gray`;
    if (g.phase === 'Promoted') http += split(grayVar, '', [[g.canary, 100]]);
    else if (g.phase === 'RolledBack' || g.strategy === 'mirror') http += split(grayVar, '', [[g.stable, 100]]);
    else {
      const byWeight = g.header ? `$${p}_grayw` : grayVar;
      http += split(byWeight, `${p}g`, [[g.canary, g.canaryWeight], [g.stable, 100 - g.canaryWeight]]);
      if (g.header) {
        const spec = g.header;
        http += `map ${headerVariable(spec[0])} ${grayVar} {\n  ${quote(`~${matchRegex(spec[2])}`)} ${quote(g.canary)};\n  default ${byWeight};\n}\n`;
      }
    }
  }
  const grayMirror = g && g.phase === 'Progressing' && g.strategy === 'mirror' ? g.canary : undefined;

  // Which route a request takes: one bit per route (1: its match holds), the first 1 wins.
  const bits: string[] = [];
  r.routes.forEach((route, i) => {
    if (route.match.length === 0) return bits.push('1');
    const entries = route.match.map((m, j) => {
      const conds: string[] = [];
      const cond = (source: string, re: string) => {
        const v = `$${p}_r${i}_m${j}_c${conds.length}`;
        http += `map ${source} ${v} {\n  ${quote(`~${re}`)} 1;\n  default 0;\n}\n`;
        conds.push(v);
      };
      if (m.pathPrefix) cond('$request_uri', `^${escapeRegex(m.pathPrefix)}`);
      for (const [name, , spec] of m.headers) cond(headerVariable(name), matchRegex(spec));
      for (const [name, , spec] of m.cookies) cond(cookieVariable(name), matchRegex(spec));
      if (conds.length === 0) return '1';
      const v = `$${p}_r${i}_m${j}`;
      http += `map "${conds.map((c) => `\${${c.slice(1)}}`).join('')}" ${v} {\n  ${'1'.repeat(conds.length)} 1;\n  default 0;\n}\n`;
      return `\${${v.slice(1)}}`;
    });
    const v = `$${p}_r${i}`;
    http += `map "${entries.join('')}" ${v} {\n  ~1 1;\n  default 0;\n}\n`;
    bits.push(`\${${v.slice(1)}}`);
  });
  const routeVar = `$${p}_route`;
  const firstOne = bits.map((_, i) => `  ${quote(`~^${'0'.repeat(i)}1`)} r${i};`);
  // Nothing to look at when the first route takes every request (or there is none).
  const direct = bits.length === 0 ? 'd' : bits[0] === '1' ? 'r0' : undefined;
  if (!direct) http += `map "${bits.join('')}" ${routeVar} {\n${firstOne.join('\n')}\n  default d;\n}\n`;

  let locations = '';
  const location = (name: string, route: CompiledRoute | undefined, versionVar: string) => {
    const loc = `/.mesh/${p}/${name}`;
    const lines: string[] = [`    internal;`, `    set $mesh_version ${versionVar};`];
    const abort = route?.fault?.abort;
    if (abort) {
      if (abort.httpStatus < 200 || abort.httpStatus > 599) throw new Error(`fault abort status ${abort.httpStatus}: nginx returns 200–599`);
      http += split(`$${p}_${name}_abort`, `${p}${name}a`, [['1', abort.percent], ['', 100 - abort.percent]]);
      lines.push(`    if ($${p}_${name}_abort) {`, `      set $mesh_fault abort;`, `      add_header x-mesh-version $mesh_version always;`, `      add_header x-mesh-fault abort always;`, `      return ${abort.httpStatus} "fault injected\\n";`, `    }`);
    }
    const mirror = route?.mirror ?? (grayMirror ? { version: grayMirror, percent: 100 } : undefined);
    if (mirror) {
      const m = `$${p}_${name}_mirror`;
      http += split(m, `${p}${name}m`, [['1', mirror.percent], ['', 100 - mirror.percent]]);
      // A mirror subrequest shares the request's variables: it sets none, its version is in its URI.
      const mloc = `${loc}/mirror/${mirror.version}`;
      lines.push(`    mirror ${mloc};`);
      locations += `  location = ${mloc} {\n    internal;\n    if (${m} = "") { return 204; }\n    log_subrequest on;\n  access_log ${o.logFile} mesh_mirror buffer=64k flush=100ms if=${m};\n    proxy_set_header Host $host;\n    proxy_set_header X-Forwarded-Host ${r.service}-shadow.${r.namespace};\n    proxy_set_header traceparent "00-$mesh_trace-$mesh_span-$mesh_flags";\n    proxy_set_header x-mesh-source "";\n    proxy_set_header Connection "";\n    proxy_next_upstream off;\n    proxy_pass http://${p}-${mirror.version}$request_uri;\n  }\n`;
    }
    const retries = route?.retries;
    const tries = 1 + (retries?.attempts ?? 0);
    if (tries > 1) {
      const on = new Set(['timeout', 'non_idempotent', ...(retries!.retryOn ?? ['5xx', 'connect-failure', 'reset']).flatMap((c) => retryConditions[c] ?? [])]);
      lines.push(`    proxy_next_upstream ${[...on].join(' ')};`, `    proxy_next_upstream_tries ${tries};`);
    } else {
      // No retries asked: only an idempotent request that got no answer (a kept-alive connection
      // the endpoint closed as it was sent, a refused connection) is sent once more, as undici
      // does for the Node plane.
      lines.push(`    proxy_next_upstream error;`, `    proxy_next_upstream_tries 2;`);
    }
    if (route?.timeoutMs) lines.push(`    proxy_next_upstream_timeout ${ms(route.timeoutMs)};`);
    const perTry = Math.min(retries?.perTryTimeoutMs ?? Infinity, route?.timeoutMs ?? Infinity);
    if (Number.isFinite(perTry)) lines.push(`    proxy_connect_timeout ${ms(Math.min(perTry, 5000))};`, `    proxy_send_timeout ${ms(perTry)};`, `    proxy_read_timeout ${ms(perTry)};`);
    const delay = route?.fault?.delay;
    if (delay && o.delayUrl) {
      // nginx cannot wait: the delayed share is sent to the backend, which waits and answers
      // X-Accel-Redirect to the location that proxies (its retries and timeouts apply there).
      const d = `$${p}_${name}_delay`;
      // Only requests without a body: nginx sends an X-Accel-Redirect on as GET without it.
      http += split(`${d}_share`, `${p}${name}d`, [['1', delay.percent], ['', 100 - delay.percent]]);
      http += `map "\${${d.slice(1)}_share}$request_method" ${d} {\n  ~^1(GET|HEAD)$ 1;\n  default "";\n}\n`;
      const body = lines.join('\n');
      lines.push(`    if (${d}) {`, `      set $mesh_fault delay;`, `      rewrite ^ ${loc}/delay last;`, `    }`);
      locations += `  location = ${loc}/delay {\n    internal;\n    proxy_method GET;\n    proxy_pass_request_body off;\n    proxy_set_header Content-Length "";\n    proxy_set_header Connection "";\n    proxy_pass ${o.delayUrl}/delay?ms=${Math.round(delay.fixedDelayMs)}&to=${loc}/delayed/$mesh_version;\n  }\n`;
      locations += `  location ~ ^${loc}/delayed/(?<mesh_delayed>[a-z0-9-]+)$ {\n${body.replace(versionVar, '$mesh_delayed')}\n    set $mesh_fault delay;\n    add_header x-mesh-version $mesh_version always;\n    add_header x-mesh-fault delay always;\n    proxy_pass http://${p}-$mesh_version$request_uri;\n  }\n`;
    }
    lines.push(`    proxy_pass http://${p}-$mesh_version$request_uri;`);
    locations += `  location = ${loc} {\n${lines.join('\n')}\n  }\n`;
  };
  r.routes.forEach((route, i) => location(`r${i}`, route, grayVar ?? `$${p}_r${i}_v`));
  r.routes.forEach((route, i) => {
    if (!grayVar) http += split(`$${p}_r${i}_v`, `${p}r${i}`, route.versions.map((v, k) => [v, route.cumulative[k]! - (route.cumulative[k - 1] ?? 0)]));
  });
  location('d', undefined, grayVar ?? r.defaultVersion);

  const limit = r.breaker?.connectionPool?.maxRequests;
  const server = `server {
  listen ${o.host ?? '127.0.0.1'}:${o.port};
  server_name ${key};
  set $mesh_span "\${mesh_rand}${r.tag}";
  set $mesh_log 1;
${limit !== undefined ? `  limit_conn mesh_requests ${limit};\n` : ''}  location / {
    rewrite ^ /.mesh/${p}/${direct ?? routeVar} last;
  }
${locations}}
`;
  return { key, http, server };
}

/** The configuration around the services: logging, trace context, the default server. */
export function nginxConfig(services: ServiceConfig[], o: NginxOptions): string {
  const d = o.dir;
  return `# Written by the servicemesh extension (generation ${o.generation}); rewritten on every rule change.
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
  server_names_hash_bucket_size 256;
  server_names_hash_max_size 65536;
  variables_hash_max_size 65536;
  variables_hash_bucket_size 256;
  map_hash_bucket_size 256;
  keepalive_timeout 65s;
  keepalive_requests 100000;
  client_max_body_size 16m;
  server_tokens off;
  # $mesh_version and $mesh_fault are set where a request goes; no server sets them for all,
  # since a mirror's subrequest shares its request's variables and runs the server's directives.
  uninitialized_variable_warn off;

  # W3C trace context: the caller's trace continued, or a new one from $request_id (16 random bytes).
  map $http_traceparent $mesh_trace {
    "~^(?!ff)[0-9a-f]{2}-(?!0{32})(?<t>[0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$" $t;
    default $request_id;
  }
  map $http_traceparent $mesh_parent {
    "~^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})(?<p>[0-9a-f]{16})-[0-9a-f]{2}$" $p;
    default "";
  }
  map $http_traceparent $mesh_flags {
    "~^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-(?<f>[0-9a-f]{2})$" $f;
    default 01;
  }
  # A span id: 4 random bytes, then the service's tag (set per server).
  map $request_id $mesh_rand { "~(?<r>[0-9a-f]{8})$" $r; }

  log_format mesh escape=json '{"t":"$msec","h":"$server_name","v":"$mesh_version","s":"$status","rt":"$request_time","ua":"$upstream_addr","us":"$upstream_status","m":"$request_method","u":"$request_uri","tr":"$mesh_trace","sp":"$mesh_span","pa":"$mesh_parent","src":"$http_x_mesh_source","f":"$mesh_fault"}';
  # A mirrored copy: its version is the last segment of its location.
  log_format mesh_mirror escape=json '{"t":"$msec","h":"$server_name","mi":"$uri","s":"$status","rt":"$request_time","ua":"$upstream_addr","us":"$upstream_status","m":"$request_method","u":"$request_uri","src":"$http_x_mesh_source","pa":"$mesh_parent"}';
  access_log ${o.logFile} mesh buffer=64k flush=100ms if=$mesh_log;
  limit_conn_zone $server_name zone=mesh_requests:1m;
  limit_conn_status 503;

  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_set_header Connection "";
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-Host $host;
  proxy_set_header traceparent "00-$mesh_trace-$mesh_span-$mesh_flags";
  proxy_set_header x-mesh-source "";
  add_header x-mesh-version $mesh_version always;

${services.map((s) => s.http).join('\n')}
  # Addressed as itself, or a host that is no MeshService.
  server {
    listen ${o.host ?? '127.0.0.1'}:${o.port} default_server;
    set $mesh_log "";
    set $mesh_version "";
    set $mesh_fault "";
    set $mesh_span "";
    location = /healthz { return 200 "ok\\n"; }
    location = /.mesh/generation { return 200 "${o.generation}"; }
    location / {
      if ($host ~ "^[a-z0-9-]+\\.[a-z0-9-]+$") { return 404 "no MeshService $host\\n"; }
      return 400 "the mesh routes by Host: <service>.<namespace>\\n";
    }
  }
${services.map((s) => s.server).join('\n')}}
`;
}
