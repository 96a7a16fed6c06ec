// The Lua module the native data plane's nginx runs (Debian's libnginx-mod-http-lua, LuaJIT and
// lua-resty-core), written to <dir>/lua/mesh.lua when nginx starts. nginx's configuration never
// changes with the rules (nginx-config.ts): the backend pushes each service's compiled rules, as a
// Lua table literal, through a control socket only it can reach; they are kept in a shared dict
// and every worker takes the new ones on its next request, so a rule change or an ejection needs
// no reload and no kept-alive connection is ever closed for it (the way ingress-nginx does it).
//
// Per request: route() (access phase) picks the route, version, fault and mirror and starts or
// continues the W3C trace; balance() (balancer phase) picks the endpoint, skipping ejected ones,
// with the route's tries and per-try timeouts; log() counts the edge's request, response code and
// latency bucket in a per-worker table that a timer adds to a shared dict every 100 ms, which the
// backend reads (take_telemetry) instead of a log line per request, and, where a CircuitBreaker
// asks for outlier detection, each try's outcome (ejecting at once, across workers). Spans are logged as JSON lines
// only for sampled traces.

export const meshLua = String.raw`
local M = {}
local ngx = ngx
local var = ngx.var
local rules = ngx.shared.mesh_rules
local live = ngx.shared.mesh_live
local balancer = require "ngx.balancer"
local re_find = ngx.re.find
local random = math.random
local now = ngx.now
local sub, find, gmatch = string.sub, string.find, string.gmatch
local floor, log, min, max, ceil = math.floor, math.log, math.min, math.max, math.ceil

local ffi = require "ffi"
ffi.cdef [[
int kill(int pid, int sig);
int getpid(void);
int getppid(void);
int memcmp(const void *a, const void *b, size_t n);
size_t strspn(const char *s, const char *accept);
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
]]
local C = ffi.C
local base = require "resty.core.base"
require "resty.core.request" -- declares ngx_http_lua_ffi_req_get_headers and its element type
require "resty.core.var" -- declares ngx_http_lua_ffi_var_set
local get_request, get_string_buf = base.get_request, base.get_string_buf
local ffi_str, ffi_cast = ffi.string, ffi.cast
-- This module is loaded by init_by_lua, in the master (before it forks its workers), whose parent
-- is the backend that started it.
local master_pid = C.getpid()
local backend_pid = C.getppid()

local version = false
local services = {}
local tags = {}
local health = ngx.shared.mesh_health
local cursor = {}
local samples = 100
local tokens, refilled = 0, 0

-- The rules' version, also in a page the master maps before it forks its workers (shared with
-- them, and with nobody else): a request reads it in a few instructions where the shared dict's
-- get locks, hashes and moves the key in its LRU queue (~300 instructions). put_rules writes the
-- dict's version there after the rules; a worker that sees another value than it saw last reads
-- the dict. Without the page (mmap failed), the dict on every request, as before.
local MAP_FAILED = ffi.cast("void *", -1)
local page = C.mmap(nil, 4096, 3, 0x21, -1, 0) -- PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS
local generation = page ~= MAP_FAILED and ffi.cast("volatile uint32_t *", page) or nil
local seen = -1

-- Each try's endpoint without set_current_peer's parse of its address where that can be done:
-- balancer.set_current_peer(ip, port) has nginx parse the text (ngx_parse_url, which also prints
-- the address back for $upstream_addr: ~1,460 instructions a try) and sets three fields of the
-- Lua module's per-request balancer data (its sockaddr, socklen and name), which nginx then
-- connects to. The first try to an address goes through set_current_peer; what it made is then
-- copied into a cdata kept for the worker's life (per address, at most MAX_PEERS of them, so
-- memory nginx may still point at is never freed), and later tries write the three fields from
-- it. Where the fields are is nginx's and the module's layout, taken only from the versions it
-- was read from (nginx 1.22, lua-nginx-module 0.10.23: Debian 12's; x86_64): the request's
-- upstream, its peer's data (the keepalive module's, which holds the upstream and the balancer's
-- data), the balancer's data, which holds the request. Those two back pointers are checked on
-- every try, and the fields against what set_current_peer wrote on the first: with other
-- versions or another layout nothing is written and every try goes through set_current_peer.
local layout_known = ffi.abi("64bit") and ngx.config.ngx_lua_version == 10023
  and ngx.config.nginx_version >= 1022000 and ngx.config.nginx_version < 1023000
ffi.cdef [[
typedef struct {
  void *rrp[5];
  void *conf;
  void *request;
  uintptr_t more_tries, total_tries;
  const void *sockaddr;
  uint32_t socklen;
  const ngx_str_t *host;
} mesh_balancer_data_t;
typedef struct {
  uint8_t sa[28];
  uint32_t socklen;
  ngx_str_t name;
  unsigned char text[64];
} mesh_peer_t;
]]
local words = ffi.typeof("void **")
local balancer_data = ffi.typeof("mesh_balancer_data_t *")
local bytes = ffi.typeof("const uint8_t *")
local peer_t = ffi.typeof("mesh_peer_t")
local MAX_PEERS = 4096
-- Address ("<ip>\t<port>") -> its mesh_peer_t; the word r->upstream is at (nil: not known yet,
-- false: not found: set_current_peer only).
local peers, npeers = {}, 0
local upstream_at = nil

-- The balancer's data of request r (its upstream the at-th word of r), where the pointers back agree.
local function balancer_data_of(r, at)
  local u = ffi_cast(words, r)[at]
  if u == nil then return nil end
  local kp = ffi_cast(words, ffi_cast(words, u)[11]) -- u->peer.data (peer at byte 16, its data at 72)
  if kp == nil or kp[1] ~= u then return nil end -- the keepalive module's: its upstream, then the data
  local bp = ffi_cast(balancer_data, kp[2])
  if bp == nil or bp.request ~= r then return nil end
  return bp
end

-- After set_current_peer(e[1], e[2]) for request r: its result kept for e's address.
local function learn(r, e)
  if upstream_at == nil then
    upstream_at = false
    -- r->upstream: after 8 words, or 9 where nginx has its cache compiled in (then the 9th,
    -- r->cache, is NULL: the plane caches nothing), so no other pointer is followed.
    for _, at in ipairs(layout_known and { 8, 9 } or {}) do
      if balancer_data_of(r, at) then upstream_at = at break end
    end
    if not upstream_at then ngx.log(ngx.WARN, "mesh: nginx's balancer data is not laid out as expected: each try's address is parsed") end
  end
  if not upstream_at or npeers >= MAX_PEERS then return end
  local bp = balancer_data_of(r, upstream_at)
  if not bp then return end
  local n, sa, host = bp.socklen, ffi_cast(bytes, bp.sockaddr), bp.host
  -- What it made: an IPv4 or IPv6 socket address (family in host order, port in network order)
  -- with e's port, and its text.
  if not (n == 16 or n == 28) or sa == nil or host == nil or host.len == 0 or host.len > 64 then return end
  if sa[0] ~= (n == 16 and 2 or 10) or sa[1] ~= 0 or sa[2] * 256 + sa[3] ~= e[2] then return end
  local p = peer_t()
  ffi.copy(p.sa, sa, n)
  p.socklen = n
  ffi.copy(p.text, host.data, host.len)
  p.name.data = p.text
  p.name.len = host.len
  peers[e[8]] = p
  npeers = npeers + 1
  e[9] = p
end

-- Request r's next try goes to endpoint e.
local function set_peer(r, e)
  local p = e[9]
  if p then
    local bp = balancer_data_of(r, upstream_at)
    if bp then
      bp.sockaddr, bp.socklen, bp.host = p.sa, p.socklen, p.name
      return
    end
  end
  local ok, err = balancer.set_current_peer(e[1], e[2])
  if not ok then
    ngx.log(ngx.ERR, "mesh: ", err)
    return
  end
  if upstream_at ~= false and not p then learn(r, e) end
end

local function load_rules()
  if generation then
    local g = generation[0]
    if g == seen then return end
    seen = g
  end
  local v = rules:get("version")
  if v == version then return end
  version = v
  local fresh, fresh_tags = {}, {}
  for key in gmatch(rules:get("keys") or "", "[^\n]+") do
    local src = rules:get("svc:" .. key)
    local f = src and loadstring(src, "=" .. key)
    if f then
      local ok, s = pcall(f)
      if ok then
        s.key = key
        s.edges = {}
        -- CircuitBreaker counters' keys, made once: places are per version (Envoy's cluster) and
        -- per endpoint within it, so services or versions sharing an endpoint do not share places.
        -- Strings a request would otherwise make each time: its round-robin cursor's key, its
        -- maxRequests counter's, its retry policy's named location.
        s.ck, s.rq = {}, "rq:" .. key
        for _, r in ipairs(s.routes) do r.exec = "@" .. r.variant end
        -- Outlier detection's keys too: an endpoint's health is its cluster's (namespace/service/
        -- version, as Envoy's), so one service's failures at a shared address eject it for that one
        -- only; [5] ejected until, [6] consecutive failures, [7] times ejected.
        s.cv, s.cp = {}, {}
        for v, eps in pairs(s.versions) do
          s.ck[v] = key .. v
          s.cv[v] = "cv:" .. key .. "\t" .. v
          s.cp[v] = "cp:" .. key .. "\t" .. v
          local cluster = s.namespace .. "/" .. s.service .. "/" .. v .. "\t"
          for i = 1, #eps do
            local e = eps[i]
            e[4] = "ce:" .. key .. "\t" .. v .. "\t" .. e[3]
            e[5], e[6], e[7] = "u" .. cluster .. e[3], "c" .. cluster .. e[3], "x" .. cluster .. e[3]
            -- The address set_peer keeps what nginx made of under (and what it made, once it did).
            e[8] = e[1] .. "\t" .. e[2]
            e[9] = peers[e[8]]
          end
        end
        fresh[key] = s
        fresh_tags[s.tag] = s
      end
    end
  end
  services, tags = fresh, fresh_tags
  samples = (rules:get("samples") or 100) / ngx.worker.count()
end

-- A new trace is sampled while this worker's bucket has a token: every trace at low traffic,
-- samples/s (divided among the workers) under load.
local function sample_new()
  if samples <= 0 then return false end
  local t = now()
  tokens = min(samples, tokens + (t - refilled) * samples)
  refilled = t
  if tokens >= 1 then
    tokens = tokens - 1
    return true
  end
  return false
end

-- A condition: {kind (1 header or cookie variable, 2 the path), variable, how (1 exact, 2 prefix, 3 regex), value}.
local function holds(c)
  local v
  if c[1] == 2 then v = var.request_uri else v = var[c[2]] end
  if v == nil then return false end
  local how, s = c[3], c[4]
  if how == 1 then return v == s end
  if how == 2 then return sub(v, 1, #s) == s end
  return re_find(v, s, "jo") ~= nil
end

local function route_matches(r)
  local alternatives = r.match
  if not alternatives then return true end
  for i = 1, #alternatives do
    local all = alternatives[i]
    local ok = true
    for j = 1, #all do
      if not holds(all[j]) then ok = false break end
    end
    if ok then return true end
  end
  return false
end

local function answer(status, body)
  ngx.status = status
  ngx.header["content-type"] = "text/plain"
  ngx.print(body)
  return ngx.exit(status)
end

-- A W3C traceparent (p, 55 bytes): version (not ff), trace id (not all zeros), parent id (not all
-- zeros) and flags, lower-case hex digits joined by "-". Checked by strspn over its bytes (the
-- flags' count may run on: the value is followed by nginx's NUL or a Lua string's): the anchored
-- regex it replaces cost ~940 instructions a request in PCRE alone, plus resty.core's regex cache.
local HEX_DIGITS = "0123456789abcdef"
local const_chars = ffi.typeof("const char *")
local function valid_traceparent(p)
  return p[2] == 45 and p[35] == 45 and p[52] == 45
    and C.strspn(p, HEX_DIGITS) == 2 and not (p[0] == 102 and p[1] == 102)
    and C.strspn(p + 3, HEX_DIGITS) == 32 and C.strspn(p + 3, "0") < 32
    and C.strspn(p + 36, HEX_DIGITS) == 16 and C.strspn(p + 36, "0") < 16
    and C.strspn(p + 53, HEX_DIGITS) >= 2
end

-- What route() decided, for balance(), sent() and log(): kept in this worker under the request's
-- address until its log phase (ngx.ctx does not survive the jump to a retry location; an nginx
-- variable would be set and read by name, ~1,000 instructions a request). The address of a request
-- that has ended is reused by a later one: the entry also holds its start (st.t0), and log() takes
-- only its own. A mirrored copy is a subrequest of its own address: it finds its primary's entry
-- by a number in $mr (set only for a mirrored request), in mirrors.
local stash = {}
local mirrors = {}
-- Entries of requests that have ended, made again for later ones: a table per request (~450
-- bytes) was a good part of the garbage the collector went through for each request.
local spare, nspare = {}, 0
local MAX_SPARE = 64
local last_ref = 0
local intptr = ffi.typeof("intptr_t")
local function request_key()
  return tonumber(ffi_cast(intptr, get_request()))
end

-- The traceparent and x-mesh-source headers, read where nginx keeps them (names lower-cased,
-- values in place; the first of each, as $http_traceparent is in nginx 1.22): reading them as
-- nginx variables hashed each name and scanned the headers once per name. The traceparent is
-- returned as where its value is and its length (no Lua string made of it: one every request
-- whose caller sent one), x-mesh-source as a string. Past 100 headers, the variables (nginx's
-- answer whatever their number), a traceparent of 55 bytes copied into tp_in.
local elt_ptr = ffi.typeof("ngx_http_lua_ffi_table_elt_t*")
local elt_size = ffi.sizeof("ngx_http_lua_ffi_table_elt_t")
local truncated = ffi.new("int[1]")
local tp_in = ffi.new("char[56]")
local function from_variables()
  local tp = var.http_traceparent
  if tp and #tp == 55 then
    ffi.copy(tp_in, tp, 55)
    return tp_in, 55, var.http_x_mesh_source
  end
  return nil, 0, var.http_x_mesh_source
end
local function trace_headers(r)
  local n = C.ngx_http_lua_ffi_req_get_headers_count(r, 100, truncated)
  if n <= 0 then return nil, 0, nil end
  if truncated[0] ~= 0 then return from_variables() end
  local buf = ffi_cast(elt_ptr, get_string_buf(n * elt_size))
  if C.ngx_http_lua_ffi_req_get_headers(r, buf, n, 0) ~= 0 then return from_variables() end
  local tp, tp_len, source = nil, 0, nil
  for i = 0, n - 1 do
    local h = buf[i]
    local len = h.key.len
    if len == 11 then
      if not tp and C.memcmp(h.key.data, "traceparent", 11) == 0 then tp, tp_len = ffi_cast(const_chars, h.value.data), h.value.len end
    elseif len == 13 then
      if not source and C.memcmp(h.key.data, "x-mesh-source", 13) == 0 then source = ffi_str(h.value.data, h.value.len) end
    end
  end
  return tp, tp_len, source
end


-- CircuitBreaker maxConnections: at most that many requests at once to each endpoint (one
-- connection each, as the Node plane's pool of that many connections); more wait, in turn, as
-- the Node plane's pool queues them: a version takes a request while its endpoints have a free
-- place (counted across workers), and balance() picks an endpoint with one. Waiting ends at the
-- route's timeout (else 30 s) with 503. maxPendingRequests bounds how many wait (Envoy's
-- http1MaxPendingRequests): one more is refused at once. Returns nil, or why it is refused.
local function wait_for_connection(s, v, st, rt)
  local eps = s.versions[v]
  if not eps then return nil end
  local key = s.cv[v]
  local cap = s.maxConnections * #eps
  if live:incr(key, 1, 0) <= cap then
    st.conn = key
    return nil
  end
  live:incr(key, -1, 0)
  local pending = s.cp[v]
  if live:incr(pending, 1, 0) > (s.maxPending or 1e9) then
    live:incr(pending, -1, 0)
    return "more than " .. s.maxPending .. " requests waiting for a connection to version " .. v .. " (CircuitBreaker)"
  end
  local deadline = ngx.req.start_time() + (rt and rt.timeout or 30000) / 1000
  local pause = 0.001
  while true do
    if now() + pause > deadline then
      live:incr(pending, -1, 0)
      return "no connection to version " .. v .. " free within the timeout (CircuitBreaker maxConnections " .. s.maxConnections .. ")"
    end
    ngx.sleep(pause)
    pause = min(pause * 2, 0.01)
    ngx.update_time()
    if live:incr(key, 1, 0) <= cap then
      live:incr(pending, -1, 0)
      st.conn = key
      return nil
    end
    live:incr(key, -1, 0)
  end
end

-- A mirrored copy's place (CircuitBreaker maxConnections of the mirror version, as Envoy's shadow
-- goes through the mirror cluster's breakers): taken now, for the subrequest the mirror directive
-- makes next, given back in its log phase. A copy never waits: it would hold its primary's
-- request open (nginx finishes a request after its subrequests); with no place free it is dropped.
local function mirror_place(s, v, st)
  local eps = s.versions[v]
  if not eps then return true end
  local key = s.cv[v]
  if live:incr(key, 1, 0) <= s.maxConnections * #eps then
    st.mconn = key
    return true
  end
  live:incr(key, -1, 0)
  return false
end

-- The outgoing traceparent is written into one buffer (and set as $mt from it): the ids are
-- hex digits of LuaJIT's generator (seeded per worker; trace and span ids need to be unique, not
-- secret) written in place. Five ids of 8 digits made as strings and joined cost ~6 µs a request
-- at c=1 (A/B, docs/benchmarks.md). nginx's $request_id instead was measured no cheaper.
local band, rshift = require("bit").band, require("bit").rshift
local HEX = ffi.new("const char[16]", "0123456789abcdef")
local tp_out = ffi.new("char[55]")
ffi.copy(tp_out, "00-", 3)
tp_out[35] = 45 -- "-"
tp_out[52] = 45
tp_out[53] = 48 -- "0"

-- $mt set from tp_out itself, through the function resty.core's ngx.var calls (which needs a Lua
-- string: one of 55 bytes made, hashed and collected for every request). As ngx.var, should the
-- call fail.
local mt_err = ffi.new("unsigned char[256]")
local mt_errlen = ffi.new("size_t[1]")
local mt_lowcase = ffi.new("unsigned char[2]")
local function set_mt(r)
  mt_errlen[0] = 256
  if C.ngx_http_lua_ffi_var_set(r, "mt", 2, mt_lowcase, tp_out, 55, mt_err, mt_errlen) ~= 0 then
    var.mt = ffi_str(tp_out, 55)
  end
end

-- 8 random hex digits at tp_out[at .. at+7], two at a time: each byte of the number is the
-- uint16 holding its two digits (HEX2), stored as one. No loop: a short loop on the request path
-- becomes a trace of its own that LuaJIT keeps leaving (and gives up on), which split route()'s
-- trace. Written a digit at a time (eight shifts, masks, loads and stores a call, five calls for a
-- new trace), route()'s trace for a request that came without a traceparent outgrew LuaJIT's
-- limit (maxrecord): the compiler gave up on it and route() ran interpreted for every request,
-- 44,549 instructions a request against 29,820 now (docs/benchmarks.md). jit_report() watches for that.
local HEX2 = ffi.new("uint16_t[256]")
local little_endian = ffi.abi("le")
for b = 0, 255 do
  local hi, lo = HEX[rshift(b, 4)], HEX[band(b, 15)]
  HEX2[b] = little_endian and hi + lo * 256 or hi * 256 + lo
end
local u16_ptr = ffi.typeof("uint16_t *")
local function random8(at)
  local n = floor(random() * 4294967296)
  local p = ffi_cast(u16_ptr, tp_out + at)
  p[0] = HEX2[band(rshift(n, 24), 255)]
  p[1] = HEX2[band(rshift(n, 16), 255)]
  p[2] = HEX2[band(rshift(n, 8), 255)]
  p[3] = HEX2[band(n, 255)]
end

function M.route()
  load_rules()
  local host = var.host
  local s = services[host]
  if not s then
    if var.uri == "/healthz" and not find(host, "^[a-z0-9-]+%.[a-z0-9-]+$") then return answer(200, "ok\n") end
    if find(host, "^[a-z0-9-]+%.[a-z0-9-]+$") then return answer(404, "no MeshService " .. host .. "\n") end
    return answer(400, "the mesh routes by Host: <service>.<namespace>\n")
  end

  -- W3C trace context: the caller's trace continued (its sampled flag respected), or a new one.
  local r = get_request()
  local tp, tp_len, source = trace_headers(r)
  local continued, sampled = false, false
  if tp_len == 55 and valid_traceparent(tp) then
    ffi.copy(tp_out + 3, tp + 3, 32)
    continued = true
    -- The flags' low bit is the last hex digit's: odd for "1" "3" … "9", and for "b" "d" "f".
    local last = tp[54]
    sampled = (last <= 57) == (last % 2 == 1)
  else
    random8(3) random8(11) random8(19) random8(27)
    sampled = sample_new()
  end
  random8(36)
  ffi.copy(tp_out + 44, s.tag, 8)
  tp_out[54] = sampled and 49 or 48 -- "1" or "0"
  set_mt(r)
  -- The caller: the service of the parent span (its id's last 8 digits are its tag), else
  -- x-mesh-source, else ingress.
  local p = continued and tags[ffi_str(tp + 44, 8)]
  if p then
    source = p.namespace == s.namespace and p.service or p.service .. "." .. p.namespace
  elseif source == nil or source == "" then
    source = "ingress"
  end

  local routes = s.routes
  local rt = nil
  for i = 1, #routes do
    if route_matches(routes[i]) then rt = routes[i] break end
  end
  local v, mirror
  local g = s.gray
  if g then
    if g.header and holds(g.header) then v = g.canary
    elseif g.weight >= 100 then v = g.canary
    elseif g.weight <= 0 then v = g.stable
    else v = random() * 100 < g.weight and g.canary or g.stable end
    mirror = g.mirror
  elseif rt then
    local vs, cum = rt.versions, rt.cum
    v = vs[#vs]
    if #vs > 1 then
      local roll = random() * 100
      for k = 1, #cum do
        if roll < cum[k] then v = vs[k] break end
      end
    end
  else
    v = s.default
  end
  var.mv = v
  -- Every field a request may set later is made now (false), so that the table is made at its
  -- final size and a spare one's fields are all set again here (none is added or taken out).
  local st
  if nspare > 0 then
    st = spare[nspare]
    spare[nspare] = nil
    nspare = nspare - 1
    st.s, st.v, st.rt, st.source, st.t0, st.sampled = s, v, rt, source, ngx.req.start_time(), sampled
    st.key, st.last, st.deadline, st.released, st.counted = false, false, false, false, false
    st.conn, st.mconn, st.mlast, st.dropped, st.mirror = false, false, false, false, false
    st.mref, st.tried, st.order, st.sent = false, false, false, false
  else
    st = { s = s, v = v, rt = rt, source = source, t0 = ngx.req.start_time(), sampled = sampled,
      key = false, last = false, deadline = false, released = false, counted = false,
      conn = false, mconn = false, mlast = false, dropped = false, mirror = false,
      mref = false, tried = false, order = false, sent = false }
  end
  stash[tonumber(ffi_cast(intptr, r))] = st
  if sampled then
    -- A JSON line for the backend: the span (its service is $host, its trace and span ids are in
    -- $mt; an unset variable is logged empty).
    var.ml = "1"
    if continued then var.mp = ffi_str(tp + 36, 16) end
  end

  if s.maxRequests then
    local n = live:incr(s.rq, 1, 0)
    st.counted = true
    if n > s.maxRequests then
      ngx.header["x-mesh-overflow"] = "1"
      return answer(503, host .. ": more than " .. s.maxRequests .. " requests in flight (CircuitBreaker)\n")
    end
  end
  local variant = "n"
  if rt then
    local abort = rt.abort
    -- x-mesh-fault is added here, only to a request a fault is injected into: an add_header of
    -- $mf cost every request ~275 instructions in nginx's headers filter. A header set before
    -- proxying stays on every answer (the endpoint's, or nginx's own 502/504 after failed tries).
    if abort and random() * 100 < abort[1] then
      var.mf = "abort"
      ngx.header["x-mesh-fault"] = "abort"
      return answer(abort[2], "fault injected\n")
    end
    local delay = rt.delay
    if delay and random() * 100 < delay[1] then
      var.mf = "delay"
      ngx.header["x-mesh-fault"] = "delay"
      ngx.sleep(delay[2] / 1000)
    end
    if rt.mirror then mirror = rt.mirror end
    variant = rt.variant
  end
  if s.maxConnections then
    local refused = wait_for_connection(s, v, st, rt)
    if refused then
      ngx.header["x-mesh-overflow"] = "1"
      return answer(503, host .. ": " .. refused .. "\n")
    end
  end
  if mirror and (mirror[2] >= 100 or random() * 100 < mirror[2]) then
    if s.maxConnections and not mirror_place(s, mirror[1], st) then
      -- Counted in the log phase, a 503 of the mirror's edge.
      st.dropped = mirror[1]
    else
      st.mirror = mirror[1]
      last_ref = last_ref + 1
      mirrors[last_ref] = st
      st.mref = last_ref
      var.mr = last_ref
      -- Envoy's shadow: the copy's Host is the service's with "-shadow" appended.
      var.ms = host .. "-shadow"
      variant = variant .. "_m"
    end
  end
  if variant == "n" then return end
  -- Mirrored requests are few: their location's name is made.
  return ngx.exec(rt and variant == rt.variant and rt.exec or "@" .. variant)
end

-- The next endpoint in turn that is not ejected and (on a retry) not tried yet by this request; a
-- retry goes to one tried already only when every live one was.
local function pick(st, eps)
  local n = #eps
  local key = st.key
  local c = cursor[key] or 0
  local t = now() * 1000
  local tried = st.tried
  local od = st.s.od
  local limit = st.s.maxConnections
  local again
  for k = 1, n do
    local e = eps[(c + k - 1) % n + 1]
    local u = od and health:get(e[5])
    if (not u or u <= t) and (not limit or (live:get(e[4]) or 0) < limit) then
      if not tried or not tried[e] then
        cursor[key] = c + k
        return e
      end
      again = again or e
    end
  end
  if again then return again end
  -- Every endpoint ejected: all serve (Envoy's panic threshold, as the Node plane).
  cursor[key] = c + 1
  return eps[c % n + 1]
end

function M.balance()
  local r = get_request()
  local st = stash[tonumber(ffi_cast(intptr, r))]
  if not st then return ngx.exit(502) end
  local eps = st.s.versions[st.v]
  if not eps then return ngx.exit(502) end
  local rt = st.rt
  if st.key then
    -- A retry: what this request tried is left out.
    if not st.tried then st.tried = { [st.last] = true } end
  else
    st.key = st.s.ck[st.v]
    -- Without retries, an idempotent request that got no answer is sent once more (as undici does).
    local tries = rt and rt.tries or 2
    balancer.set_more_tries(tries - 1)
    if rt and rt.timeout then st.deadline = st.t0 + rt.timeout / 1000 end
  end
  local e = pick(st, eps)
  if st.s.maxConnections then
    -- This try's place at its endpoint (a retry gives back the last try's).
    if st.last then live:incr(st.last[4], -1, 0) end
    live:incr(e[4], 1, 0)
  end
  st.last = e
  if st.tried then st.tried[e] = true end
  if st.s.od then
    local order = st.order
    if not order then order = {} st.order = order end
    order[#order + 1] = e
  end
  local per = rt and rt.perTry
  if st.deadline then
    -- The route's timeout bounds the whole request, retries included.
    local left = max(1, (st.deadline - now()) * 1000)
    if not per or left < per then per = left end
  end
  if per then balancer.set_timeouts(min(per, 5000) / 1000, per / 1000, per / 1000) end
  set_peer(r, e)
end

function M.balance_mirror()
  local st = mirrors[tonumber(var.mr)]
  local eps = st and st.s.versions[st.mirror]
  if not eps then return ngx.exit(502) end
  local e = pick({ key = st.s.key .. st.mirror .. " mirror", s = st.s }, eps)
  if st.mconn then
    live:incr(e[4], 1, 0)
    st.mlast = e
  end
  set_peer(get_request(), e)
end

-- A mirrored copy's places given back (by its subrequest's log phase, else its primary's).
local function mirror_done(st)
  if not st.mconn then return end
  live:incr(st.mconn, -1, 0)
  if st.mlast then live:incr(st.mlast[4], -1, 0) end
  st.mconn, st.mlast = false, false
end

-- Latency buckets: the fine ones of telemetry.ts (0.25 ms x 1.2^i, 72 of them) and the exported
-- histogram's (bounds 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 ms, then +Inf).
local LOG12 = log(1.2)
-- Counts of this worker not yet in the shared dict: second -> edge -> code*10000 + fine*100 + bucket -> n.
local counts, sums = {}, {}
local cur_sec, cur_counts, cur_sums = -1, nil, nil

-- Outlier detection (as the Node plane's Endpoints.count): an endpoint failing (5xx or no answer)
-- od.n times in a row is ejected from its version (its cluster) for od.base ms x the times it was,
-- unless that would eject more than od.max % of the version; counted across workers in the shared
-- dict, ejected at once.
local function outcome(od, eps, e, failed, t)
  if not failed then
    if health:get(e[6]) then health:set(e[6], 0) end
    return
  end
  local n = health:incr(e[6], 1, 0)
  if n < od.n then return end
  local u = health:get(e[5])
  if u and u > t then return end
  local out = 0
  for i = 1, #eps do
    local other = eps[i]
    if other ~= e then
      local ou = health:get(other[5])
      if ou and ou > t then out = out + 1 end
    end
  end
  if (out + 1) / #eps * 100 > od.max then return end
  local times = health:incr(e[7], 1, 0)
  health:set(e[5], t + od.base * times)
  health:set(e[6], 0)
end

local function outcomes(st)
  local order = st.order
  if not order then return end
  local statuses = var.upstream_status or ""
  local eps = st.s.versions[st.v]
  local t = now() * 1000
  local i = 0
  for code in gmatch(statuses, "[^%s,:]+") do
    i = i + 1
    local e = order[i]
    if not e then break end
    local c = tonumber(code) or 0
    outcome(st.s.od, eps, e, c == 0 or c >= 500, t)
  end
end

-- Counts a request of the edge (source -> s's version v): its status, latency bucket and time.
local function count(s, source, v, status, t, ms)
  local fine = 0
  if ms > 0.25 then fine = min(72, ceil(log(ms / 0.25) / LOG12 - 1e-9)) end
  -- The exported bucket: the first bound not below ms (compared, not looped over: see random8).
  local bucket
  if ms <= 50 then
    if ms <= 2.5 then
      bucket = ms <= 0.5 and 1 or ms <= 1 and 2 or 3
    else
      bucket = ms <= 5 and 4 or ms <= 10 and 5 or ms <= 25 and 6 or 7
    end
  elseif ms <= 1000 then
    bucket = ms <= 100 and 8 or ms <= 250 and 9 or ms <= 500 and 10 or 11
  else
    bucket = ms <= 2500 and 12 or ms <= 5000 and 13 or ms <= 10000 and 14 or 15
  end
  -- The edge's name, made once per source and version.
  local edges = s.edges
  local by_source = edges[source]
  if not by_source then by_source = {} edges[source] = by_source end
  local edge = by_source[v]
  if not edge then edge = s.namespace .. "\t" .. source .. "\t" .. s.service .. "\t" .. v by_source[v] = edge end
  local sec = floor(t)
  if sec ~= cur_sec then
    cur_sec = sec
    cur_counts = counts[sec]
    if not cur_counts then cur_counts = {} counts[sec] = cur_counts end
    cur_sums = sums[sec]
    if not cur_sums then cur_sums = {} sums[sec] = cur_sums end
  end
  local c = cur_counts[edge]
  if not c then c = {} cur_counts[edge] = c end
  local k = status * 10000 + fine * 100 + bucket
  c[k] = (c[k] or 0) + 1
  cur_sums[edge] = (cur_sums[edge] or 0) + ms
end

-- What a request holds given back: its maxRequests count, its maxConnections place.
local function release(st)
  if st.released then return end
  st.released = true
  local s = st.s
  if st.counted then live:incr(s.rq, -1, 0) end
  if st.conn then
    live:incr(st.conn, -1, 0)
    if st.last and s.maxConnections then live:incr(st.last[4], -1, 0) end
  end
end

-- The body filter of a request with a mirrored copy (the mirror locations'): nginx runs a
-- request's log phase only once its subrequests have ended, so a slow copy would hold its
-- primary's places and count its time as the primary's. At the answer's end they are given back
-- and its time is taken.
function M.sent()
  if not ngx.arg[2] then return end
  local st = stash[request_key()]
  if not st or st.sent then return end
  st.sent = now()
  release(st)
end

function M.log()
  local st
  if ngx.is_subrequest then
    st = mirrors[tonumber(var.mr)]
    if not st then return end
    mirror_done(st)
    local t = now()
    return count(st.s, st.source, st.mirror, ngx.status, t, max(0, (t - ngx.req.start_time()) * 1000))
  end
  local ref = request_key()
  st = stash[ref]
  if not st then return end
  stash[ref] = nil
  local t0 = ngx.req.start_time()
  -- An entry left by an earlier request at this address (its log phase failed) is not this one's.
  if st.t0 ~= t0 then return end
  local s = st.s
  local t = now()
  local ms = max(0, (t - t0) * 1000)
  if st.mref then mirrors[st.mref] = nil end
  release(st)
  if s.od then outcomes(st) end
  -- A copy that never ran (its primary ended first) gives its place back; one dropped for want
  -- of a place is a 503 of the mirror's edge, as the Node plane counts it.
  mirror_done(st)
  if st.dropped then count(s, st.source, st.dropped, 503, t, 0) end
  if st.sent then
    -- Its answer ended before its copy: its time is until then (for its span too).
    ms = max(0, (st.sent - t0) * 1000)
    if st.sampled then var.md = ms end
  end
  count(s, st.source, st.v, ngx.status, t, ms)
  -- Nothing holds the entry now (its copy's log phase, if any, ran before this one): kept for a
  -- later request (route() sets all its fields again).
  if nspare < MAX_SPARE then
    nspare = nspare + 1
    spare[nspare] = st
  end
end

-- Adds this worker's counts to the shared dict (kept 60 s: the backend reads every second).
local function flush(premature)
  if next(counts) == nil then return end
  local all, all_sums = counts, sums
  counts, sums, cur_sec = {}, {}, -1
  for sec, edges in pairs(all) do
    for edge, c in pairs(edges) do
      for k, n in pairs(c) do
        local rest = k % 10000
        live:incr("c\t" .. sec .. "\t" .. edge .. "\t" .. floor(k / 10000) .. "\t" .. floor(rest / 100) .. "\t" .. rest % 100, n, 0, 60)
      end
    end
  end
  for sec, edges in pairs(all_sums) do
    for edge, ms in pairs(edges) do live:incr("s\t" .. sec .. "\t" .. edge, ms, 0, 60) end
  end
end

-- nginx is not given a session (nor a process group) of its own: one would also be a scheduler
-- autogroup of its own, which made every request ~10 % dearer than in the backend's (docs). So
-- nothing stops its workers with their master's group: a worker whose master is gone (killed)
-- stops itself, and a master whose backend is gone (killed) is stopped gracefully by its workers
-- where they may signal it (same user; a master run as root has its workers run as another, and
-- Debian's nginx has no privileged agent: then the next backend of the data dir stops it).
local ESRCH = 3
local may_signal_master = true
local function watch_parents()
  if C.getppid() ~= master_pid then
    ngx.log(ngx.WARN, "mesh: the master (pid ", master_pid, ") is gone; this worker stops")
    C.kill(C.getpid(), 9)
    return
  end
  if may_signal_master and backend_pid > 1 and C.kill(backend_pid, 0) ~= 0 and ffi.errno() == ESRCH then
    ngx.log(ngx.WARN, "mesh: the backend (pid ", backend_pid, ") is gone; quitting")
    if C.kill(master_pid, 3) ~= 0 then -- SIGQUIT: a graceful stop
      may_signal_master = false
      ngx.log(ngx.WARN, "mesh: this worker may not signal its master: it serves until the next backend stops it")
    end
  end
end

-- LuaJIT's work on the request path, reported to the backend (GET /jit): a function the
-- compiler gives up on (its trace too long, say) runs in the interpreter from then on, at several
-- times the cost, and nothing else shows it. Counted per worker from the compiler's own events
-- (jit.attach, called only while it records: nothing per request): for route(), balance() and
-- log(), the root traces compiled from their start and the attempts given up, by reason; for all
-- code, the traces compiled and given up, and where and why the last one was.
local jit_util = require "jit.util"
local vmdef_ok, vmdef = pcall(require, "jit.vmdef")
local watched = {}
local jit_roots, jit_aborts, jit_reasons = {}, {}, {}
local traces_made, traces_aborted, last_abort = 0, 0, ""
local recording -- the name of the watched function whose root trace is being recorded, if any
local function where(func, pc)
  local info = jit_util.funcinfo(func, pc)
  return (info.source or "?"):gsub("^.*/", "") .. ":" .. (info.currentline or info.linedefined or "?")
end
-- The callback runs in the middle of whatever code LuaJIT was recording, resty.core's among it:
-- it touches only its own tables. Counting into a shared dict from here made CircuitBreaker's waits
-- for a place hang (nginx-plane.test.ts's maxConnections tests, in every run of the file): most
-- likely it reentered a resty.core shared-dict call it had interrupted, whose buffers are the module's.
local function on_trace(what, tr, func, pc, otr, oex)
  if what == "start" then
    recording = otr == nil and watched[func] or nil
  elseif what == "stop" then
    traces_made = traces_made + 1
    if recording then jit_roots[recording] = (jit_roots[recording] or 0) + 1 end
    recording = nil
  elseif what == "abort" then
    traces_aborted = traces_aborted + 1
    -- As jit.v words it: the error's message (its detail left out: a number, a name, a function).
    local why = vmdef_ok and vmdef.traceerr[otr] and vmdef.traceerr[otr]:gsub(" ?%%%a", "") or ("error " .. tostring(otr))
    if recording then
      jit_aborts[recording] = (jit_aborts[recording] or 0) + 1
      local reasons = jit_reasons[recording] or {}
      jit_reasons[recording] = reasons
      reasons[why] = (reasons[why] or 0) + 1
    end
    recording = nil
    last_abort = where(func, pc) .. " " .. why
  end
end

-- Control: "<function>\t<root traces>\t<given up>\t<why>=<times>;…" for route, balance and log,
-- then "*\t<traces>\t<given up>\t<the last given up: where, why>" (this worker's).
function M.jit_report()
  local out = {}
  for _, name in ipairs({ "route", "balance", "log" }) do
    local reasons = {}
    for why, n in pairs(jit_reasons[name] or {}) do reasons[#reasons + 1] = why .. "=" .. n end
    out[#out + 1] = name .. "\t" .. (jit_roots[name] or 0) .. "\t" .. (jit_aborts[name] or 0) .. "\t" .. table.concat(reasons, ";")
  end
  out[#out + 1] = "*\t" .. traces_made .. "\t" .. traces_aborted .. "\t" .. last_abort
  out[#out + 1] = ""
  ngx.print(table.concat(out, "\n"))
end

function M.init_worker()
  -- Each worker its own sequence.
  math.randomseed(ngx.now() * 1000 + ngx.worker.pid() * 65537)
  watched[M.route], watched[M.balance], watched[M.log] = "route", "balance", "log"
  if jit and jit.attach then jit.attach(on_trace, "trace") end
  ngx.timer.every(0.1, flush)
  ngx.timer.every(1, watch_parents)
end

-- Control: what has been counted since the last read, one line per key and count.
function M.take_telemetry()
  flush()
  local out = {}
  -- A second's keys are still added to for a moment after it (each worker flushes every 100 ms):
  -- what was read is subtracted from them; older ones are read and removed, so the dict holds
  -- only the last few seconds' keys however many edges there are.
  local settled = floor(now()) - 5
  for _, k in ipairs(live:get_keys(0)) do
    local c = sub(k, 1, 2)
    if c == "c\t" or c == "s\t" then
      local n = live:get(k)
      local old = (tonumber(sub(k, 3, find(k, "\t", 3, true) - 1)) or 0) < settled
      if n and n ~= 0 then
        if old then live:delete(k) else live:incr(k, -n) end
        out[#out + 1] = k .. "\t" .. n
      elseif old then
        live:delete(k)
      end
    end
  end
  out[#out + 1] = ""
  ngx.print(table.concat(out, "\n"))
end

-- Control: every endpoint's outlier-detection state in each cluster, a line
-- "<c|x|u>\t<namespace/service/version>\t<url>\t<value>" each (consecutive failures, times
-- ejected, ejected until in ms since the epoch).
function M.endpoints()
  local out = {}
  for _, k in ipairs(health:get_keys(0)) do
    local v = health:get(k)
    if v then out[#out + 1] = sub(k, 1, 1) .. "\t" .. sub(k, 2) .. "\t" .. v end
  end
  out[#out + 1] = ""
  ngx.print(table.concat(out, "\n"))
end

-- A service's compiled rules, refused when a regular expression does not compile in PCRE.
local function check(s)
  local function regex(c, where)
    if c[3] == 3 then
      local _, _, err = re_find("", c[4], "jo")
      if err then error(where .. ": " .. err, 0) end
    end
  end
  for i, r in ipairs(s.routes) do
    for _, all in ipairs(r.match or {}) do
      for _, c in ipairs(all) do regex(c, "routes[" .. (i - 1) .. "]") end
    end
  end
  if s.gray and s.gray.header then regex(s.gray.header, "gray release header") end
end

-- Control: the rules of every service, framed "<key>\n<bytes>\n<lua>" (key "@samples" is the
-- trace sampling); a service whose rules fail keeps its last good
-- ones. Answers a line "<key>\t<why>" per refused service.
function M.put_rules()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local file = ngx.req.get_body_file()
    if file then
      local f = io.open(file, "rb")
      body = f:read("*a")
      f:close()
    end
  end
  body = body or ""
  local keys, problems, at = {}, {}, 1
  while at <= #body do
    local nl = find(body, "\n", at, true)
    local nl2 = find(body, "\n", nl + 1, true)
    local key = sub(body, at, nl - 1)
    local len = tonumber(sub(body, nl + 1, nl2 - 1))
    local src = sub(body, nl2 + 1, nl2 + len)
    at = nl2 + len + 1
    if key == "@samples" then rules:set("samples", tonumber(src))
    else
      keys[#keys + 1] = key
      local f, err = loadstring(src, "=" .. key)
      local ok = f ~= nil
      if ok then ok, err = pcall(function() check(f()) end) end
      if ok then
        rules:set("svc:" .. key, src)
      else
        problems[#problems + 1] = key .. "\t" .. tostring(err):gsub("\n", " ")
      end
    end
  end
  local listed = {}
  for _, k in ipairs(keys) do listed[k] = true end
  for _, k in ipairs(rules:get_keys(0)) do
    if sub(k, 1, 4) == "svc:" and not listed[sub(k, 5)] then rules:delete(k) end
  end
  rules:set("keys", table.concat(keys, "\n"))
  local v = rules:incr("version", 1, 0)
  if generation then generation[0] = v end
  problems[#problems + 1] = ""
  ngx.print(table.concat(problems, "\n"))
end

return M
`;
