import { isIP } from 'node:net';
import { join } from 'node:path';
import { identityHeader } from '../gateway/headers.js';

/** What the edge's nginx configuration is made from (all paths absolute). */
export interface EdgeNginxConfigInput {
  /** Where clients connect: `host:port` (nginx's `listen`). */
  listen: string;
  /** nginx's prefix: the sockets, the pid file and the temp dirs are here (a 0700 dir). */
  dir: string;
  /** The directory holding mortise_edge.lua. */
  luaDir: string;
  /** Debian's nginx modules (ndk before lua). */
  modulesDir: string;
  /** Sent with every request to the core's edge socket and required on the control socket. */
  secret: string;
  /** Latency histogram bounds, seconds (the core's own). */
  buckets: number[];
  /** Decisions kept by each nginx worker. */
  maxDecisions: number;
  /** The core's process: should it die (even by SIGKILL), nginx stops using decisions and quits. */
  corePid: number;
  /** nginx workers (default 1). */
  workers?: number;
  /** The core's user and group when it runs as root: nginx's workers would otherwise become `nobody`, who cannot reach the 0700 dir. */
  runAs?: { user: string; group: string };
  /**
   * The backends decisions may send requests to (`ip:port`, an IPv6 address without brackets),
   * each an upstream block of its own with its kept-alive connections: nginx picks it by name,
   * with no Lua on the way. A decision for a backend not listed goes to the core.
   */
  backends: string[];
  /**
   * The Unix socket a backend serves on besides its `ip:port` (a process backend on this machine,
   * BackendStatus.socketPath): its upstream block connects there, which costs it and nginx less.
   */
  sockets?: Record<string, string>;
  /** Which configuration this is (the control socket's /generation answers it once nginx runs it). */
  generation: number;
  /** Time to get a connection to a backend, and to the response headers (the gateway's own). */
  connectTimeoutMs: number;
  responseTimeoutMs: number;
}

/** The unix sockets of an edge dir: the core's (requests nginx passes on) and nginx's control socket. */
export function edgeSockets(dir: string): { core: string; control: string } {
  return { core: join(dir, 'core.sock'), control: join(dir, 'control.sock') };
}

/** `ip:port` → nginx's server address (IPv6 in brackets); anything else is refused. */
function backendAddress(backend: string): string {
  const colon = backend.lastIndexOf(':');
  const host = backend.slice(0, colon);
  const port = Number(backend.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 1 || port > 65535 || !isIP(host)) throw new Error(`${JSON.stringify(backend)} is not an ip:port the edge can send to`);
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Lua strings are written in long brackets, which need no escaping unless they contain `]]`. */
function luaString(s: string): string {
  if (s.includes(']') || s.includes('\n')) throw new Error(`cannot put ${JSON.stringify(s)} in the edge's configuration`);
  return `[[${s}]]`;
}

/** An nginx argument in double quotes. */
function quoted(s: string): string {
  if (/["\\$\n]/.test(s)) throw new Error(`cannot put ${JSON.stringify(s)} in the edge's configuration`);
  return `"${s}"`;
}

/**
 * The edge's nginx.conf. Every request nginx does not answer from a decision the core made goes
 * to the core's edge socket unchanged (streaming both ways, websockets, watches), marked with the
 * client's address and the shared secret so the core can tell nginx from anything else.
 */
export function edgeNginxConfig(c: EdgeNginxConfigInput): string {
  const sockets = edgeSockets(c.dir);
  // [nginx's address, the upstream's name] of each backend, in the order given.
  const upstreams = c.backends.map((b, i): [string, string] => {
    const address = backendAddress(b);
    const socket = c.sockets?.[b];
    return [socket ? quoted(`unix:${socket}`) : address, `mortise_backend_${i}`];
  });
  const secret = quoted(c.secret);
  const toCore = [
    'proxy_pass http://mortise_core;',
    'proxy_http_version 1.1;',
    'proxy_set_header Host $http_host;',
    'proxy_set_header Upgrade $http_upgrade;',
    'proxy_set_header Connection $mortise_connection;',
    'proxy_set_header X-Mortise-Edge-Client $remote_addr;',
    `proxy_set_header X-Mortise-Edge-Secret ${secret};`,
    'proxy_buffering off;',
    'proxy_request_buffering off;',
    'proxy_read_timeout 1d;',
    'proxy_send_timeout 1d;',
  ].join('\n      ');
  // How a decided request goes to its backend (the same from both locations that send it).
  const toBackend = [
    'header_filter_by_lua_block { mortise_edge.header_filter() }',
    'log_by_lua_block { mortise_edge.log() }',
    'proxy_pass http://$mt;',
    'proxy_http_version 1.1;',
    "proxy_set_header Connection '';",
    'proxy_set_header Host $mh;',
    "proxy_set_header Authorization '';",
    'proxy_set_header Cookie $mc;',
    `proxy_set_header ${identityHeader} $mi;`,
    'proxy_set_header X-Forwarded-For $remote_addr;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_set_header X-Forwarded-Host $http_host;',
    'proxy_set_header X-Forwarded-Prefix $mp;',
    'proxy_pass_request_headers on;',
    'proxy_buffering off;',
    'proxy_next_upstream off;',
    `proxy_connect_timeout ${Math.max(1, Math.round(c.connectTimeoutMs))}ms;`,
    `proxy_read_timeout ${Math.max(1, Math.round(c.responseTimeoutMs))}ms;`,
    '# nginx could not reach the backend or it failed before answering: the core tries and says why.',
    'error_page 502 = @core;',
    '# The backend did not answer in time: the core says so (it does not send the request again).',
    'error_page 504 = @core_timeout;',
  ].join('\n      ');
  return `# Generated by the Mortise core (core/src/edge/edge-nginx-config.ts); rewritten at each start.
load_module ${join(c.modulesDir, 'ndk_http_module.so')};
load_module ${join(c.modulesDir, 'ngx_http_lua_module.so')};
${c.runAs ? `user ${c.runAs.user} ${c.runAs.group};
` : ''}worker_processes ${c.workers ?? 1};
daemon off;
pid ${join(c.dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path ${join(c.dir, 'client_body')};
  proxy_temp_path ${join(c.dir, 'proxy')};
  fastcgi_temp_path ${join(c.dir, 'fastcgi')};
  uwsgi_temp_path ${join(c.dir, 'uwsgi')};
  scgi_temp_path ${join(c.dir, 'scgi')};
  client_max_body_size 0;
  # A request's memory pool made big enough at once for what the Lua module and the proxying
  # allocate from it: with nginx's 4k it grew by blocks a request (a malloc and a free each,
  # ~2,200 instructions a request in all). Only requests in flight hold one.
  request_pool_size 16k;
  keepalive_timeout 65s;
  keepalive_requests 100000;
  underscores_in_headers on;
  # What nginx would otherwise take from an upstream's answer as an order: X-Accel-Redirect is an
  # internal redirect of the client's request to any location, internal ones (the decide location)
  # included; the rest set its rate, buffering and charset. A backend speaks to its caller only.
  proxy_ignore_headers X-Accel-Redirect X-Accel-Expires X-Accel-Limit-Rate X-Accel-Buffering X-Accel-Charset;
  # Node takes request heads up to 16 KiB; long tokens and cookies must get through to the core.
  large_client_header_buffers 4 32k;
  lua_package_path ${quoted(`${c.luaDir}/?.lua;/usr/share/lua/5.1/?.lua;;`)};
  lua_shared_dict mortise_state 64k;
  lua_shared_dict mortise_stats 4m;
  init_by_lua_block {
    mortise_edge = require "mortise_edge"
    mortise_edge.init({ secret = ${luaString(c.secret)}, max_decisions = ${c.maxDecisions}, core_pid = ${c.corePid}, core_socket = ${luaString(sockets.core)}, epoch_file = ${luaString(join(c.dir, 'epoch'))}, buckets = { ${c.buckets.join(', ')} },
      generation = ${c.generation}, backends = { ${upstreams.map(([, name], i) => `[ ${luaString(c.backends[i]!)} ] = "${name}"`).join(', ')} } })
  }
  init_worker_by_lua_block {
    -- Until the core pushes an epoch, no decision is used (decisions carry the core's epoch, from 1).
    ngx.shared.mortise_state:add("epoch", 0)
    mortise_edge.init_worker()
  }
  map $http_upgrade $mortise_connection { default upgrade; '' ''; }
  upstream mortise_core { server unix:${sockets.core}; keepalive 64; }
${upstreams.map(([address, name]) => `  upstream ${name} { server ${address}; keepalive 64; }
`).join('')}  server {
    listen ${c.listen};
    # What a decision sets for its request (mortise_edge.lua's apply). The names are short on
    # purpose: Lua sets a variable by name, and nginx lower-cases and hashes the name each time
    # (five 20-character names were ~2,000 instructions a request, ~4 % of the edge's work).
    #   $mt  the backend's upstream block and the path: http://$mt
    #   $mh  the backend's Host
    #   $mi  the forwarded identity (what lookup() returns in location /: '' when it has no decision)
    #   $mp  X-Forwarded-Prefix          $mc  the Cookie header without the core's cookies
    # The first three are set by every request that uses them; these two may be left unset.
    set $mp '';
    set $mc '';
    # A request the edge sent to a backend is watched until its log phase (docs/edge.md,
    # Revocation): wherever it ends, the edge forgets it (the locations that send requests to
    # backends log them, and forget them, themselves).
    log_by_lua_block { mortise_edge.forget() }
    location / {
      # A decision this worker holds: answered from the rewrite phase. Anything else: @mortise_decide.
      set_by_lua_block $mi { return mortise_edge.lookup() }
      error_page 418 = @mortise_decide;
      # So that @mortise_decide's own 502 and 504 (below) still go to the core.
      recursive_error_pages on;
      if ($mi = '') { return 418; }
      ${toBackend}
    }
    location @mortise_decide {
      access_by_lua_block { mortise_edge.access() }
      ${toBackend}
    }
    # Never entered: it declares $mt and $mh, which Lua sets, without a \`set\` run on every request.
    location = /_mortise_edge/variables { internal; set $mt ''; set $mh ''; return 404; }
    location = /_mortise_edge/decide {
      internal;
      # Only mortise_edge.lua's subrequest, not an internal redirect of a client's request.
      access_by_lua_block { if not ngx.is_subrequest then return ngx.exit(404) end }
      proxy_pass http://mortise_core/_mortise_edge/decide$is_args$args;
      proxy_http_version 1.1;
      proxy_set_header Connection '';
      proxy_set_header Host $http_host;
      proxy_set_header X-Mortise-Edge-Client $remote_addr;
      proxy_set_header X-Mortise-Edge-Secret ${secret};
      proxy_pass_request_body off;
      proxy_set_header Content-Length '';
    }
    location @core {
      ${toCore}
      proxy_set_header X-Mortise-Edge-Failed '';
    }
    location @core_timeout {
      ${toCore}
      proxy_set_header X-Mortise-Edge-Failed timeout;
      proxy_pass_request_body off;
      proxy_set_header Content-Length '';
    }
  }
  server {
    listen unix:${sockets.control};
    location / { content_by_lua_block { mortise_edge.control() } }
  }
}
`;
}
