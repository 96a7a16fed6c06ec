-- The native edge's request path (docs/edge.md): nginx answers a safe request to an extension's
-- route itself when the core has already decided the very same request (method, URI and
-- credentials) since the last change to anything a decision reads; everything else goes to the
-- core, which answers exactly as it does on its own port. The core pushes a new epoch before it
-- acknowledges any such change, so a revoked token or permission stops at the next request.

local lrucache = require "resty.lrucache"
local ffi = require "ffi"
local semaphore = require "ngx.semaphore"

local M = {}

local state = ngx.shared.mortise_state
local stats = ngx.shared.mortise_stats
local clear_header, set_header = ngx.req.clear_header, ngx.req.set_header
local find, sub, byte, gsub, lower = string.find, string.sub, string.byte, string.gsub, string.lower
local concat = table.concat
local tonumber, type, pairs = tonumber, type, pairs

ffi.cdef [[
int kill(int pid, int sig);
int getpid(void);
int getppid(void);
int open(const char *path, int flags, int mode);
int ftruncate(int fd, long length);
int close(int fd);
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
]]

local secret
local generation
-- "ip:port" → the name of its upstream block in this configuration.
local backends = {}
local core_pid
local core_socket
local master_pid
local decisions
local buckets = {}
-- The epoch, also in a page of a file in the edge's private dir that the master maps before it
-- forks its workers (MAP_SHARED: every worker, and the old workers still serving after a reload,
-- see the same page): a request reads it in a few instructions where the shared dict's get locks,
-- hashes and moves the key in its LRU queue (~300 instructions; twice for a request, with the
-- body filter's). Without the page (the file could not be mapped), the dict, as before.
local epoch_page
local function current_epoch()
  if epoch_page then return epoch_page[0] end
  return state:get("epoch")
end
local function set_epoch(epoch)
  state:set("epoch", epoch)
  if epoch_page then epoch_page[0] = epoch end
end
local function map_epoch_page(path)
  local fd = ffi.C.open(path, 66, 384) -- O_RDWR|O_CREAT, 0600
  if fd < 0 then return nil end
  local page
  if ffi.C.ftruncate(fd, 4096) == 0 then page = ffi.C.mmap(nil, 4096, 3, 1, fd, 0) end -- PROT_READ|PROT_WRITE, MAP_SHARED
  ffi.C.close(fd)
  if page == nil or page == ffi.cast("void *", -1) then return nil end
  local p = ffi.cast("volatile double *", page)
  -- A reload maps the same page again: it keeps the epoch, which the dict (kept across reloads) also holds.
  p[0] = state:get("epoch") or 0
  return p
end
local bucket_names = {}

function M.init(opts)
  secret = opts.secret
  generation = opts.generation
  backends = opts.backends
  core_pid = opts.core_pid
  core_socket = opts.core_socket
  master_pid = ffi.C.getpid() -- init runs in the master, before it forks the workers
  decisions = lrucache.new(opts.max_decisions)
  epoch_page = opts.epoch_file and map_epoch_page(opts.epoch_file)
  if opts.epoch_file and not epoch_page then ngx.log(ngx.WARN, "mortise edge: ", opts.epoch_file, " could not be mapped: the epoch is read from the shared dict") end
  buckets = opts.buckets
  for i = 1, #buckets do bucket_names[i] = tostring(buckets[i]) end
end

-- A decision as the core writes it: one field per line, then header lines.
local function parse(body)
  local d = { set = {}, remove = {}, down = {} }
  local fields = {}
  local pos = 1
  while true do
    local nl = find(body, "\n", pos, true)
    if not nl then break end
    fields[#fields + 1] = sub(body, pos, nl - 1)
    pos = nl + 1
  end
  if #fields < 8 then return nil end
  d.epoch = tonumber(fields[1])
  d.ttl = tonumber(fields[2])
  d.host = fields[3]
  d.port = tonumber(fields[4])
  d.upstream_host = fields[5]
  d.uri = fields[6]
  d.route = fields[7]
  d.user = fields[8]
  for i = 9, #fields do
    local f = fields[i]
    local t1 = find(f, "\t", 1, true)
    if t1 then
      local kind = sub(f, 1, t1 - 1)
      local t2 = find(f, "\t", t1 + 1, true)
      local name = sub(f, t1 + 1, (t2 or 0) - 1)
      local value = t2 and sub(f, t2 + 1) or nil
      if kind == "identity" then d.identity = name
      elseif kind == "groups" then d.groups = name
      elseif kind == "prefix" then d.prefix = name
      elseif kind == "set" then d.set[#d.set + 1] = { name, value }
      elseif kind == "remove" then d.remove[#d.remove + 1] = name
      elseif kind == "down" then d.down[#d.down + 1] = { name, value } end
    end
  end
  if not (d.epoch and d.ttl and d.port and d.host and d.uri and d.identity) or d.identity == "" then return nil end
  -- A backend this configuration has no upstream for (the core is about to reload it): the request
  -- is allowed, but the core answers it (keep() does not keep such a decision).
  d.upstream = backends[d.host .. ":" .. d.port]
  if d.upstream then d.target = d.upstream .. d.uri end
  return d
end

-- Header names the core's gateway never forwards from a client (core/src/gateway/headers.ts):
-- claims of identity, the caller's credentials, what the gateway itself sets.
local function is_identity_header(n)
  if n == "forwarded" or n == "x-real-ip" or n == "remote-user"
    or n == "x-user" or n == "x-email" or n == "x-groups" then return true end
  local c = byte(n, 1)
  if c == 120 then -- "x"
    return find(n, "^x%-remote%-") or find(n, "^x%-mortise%-") or find(n, "^x%-forwarded%-") or find(n, "^x%-auth%-request%-")
  end
  if c == 105 then return find(n, "^impersonate%-") end -- "i"
  return false
end

-- What each request header name means to the edge. Names not listed, and not starting with "x-"
-- or "impersonate-", are passed on untouched.
local CREDENTIAL, COOKIE, TO_CORE, CHECK, DROP = 1, 2, 3, 4, 5
local header_kind = {
  authorization = CREDENTIAL, cookie = COOKIE,
  -- Requests the edge never answers itself: the core has the rules for them.
  upgrade = TO_CORE, expect = TO_CORE, ["transfer-encoding"] = TO_CORE,
  ["content-length"] = CHECK, accept = CHECK, connection = CHECK,
  -- Headers about one connection (RFC 9110 §7.6.1) nginx would otherwise pass on.
  ["proxy-connection"] = DROP, ["proxy-authorization"] = DROP, ["proxy-authenticate"] = DROP,
  trailer = DROP, ["http2-settings"] = DROP, te = DROP, ["keep-alive"] = DROP,
  forwarded = DROP, ["x-real-ip"] = DROP, ["remote-user"] = DROP,
}

-- CGI, WSGI and PHP read `X_Remote_User` as `X-Remote-User` (nginx passes underscores here):
-- such a name is dropped when its dashed form would be.
local function is_dashed_identity_header(n)
  local d = gsub(n, "_", "-")
  return header_kind[d] == DROP or is_identity_header(d)
end

-- Whether a header name header_kind does not list is dropped (a claim of identity, or the
-- underscored form of one), remembered per name: the same few names come with every request, and
-- the patterns cost ~2,700 instructions a name starting with "x-". Names are the client's: at most
-- MAX_CLASSIFIED are remembered, the rest are classified each time.
local classified, nclassified = {}, 0
local MAX_CLASSIFIED = 1024
local function dropped(name)
  local c = classified[name]
  if c ~= nil then return c end
  c = (is_identity_header(name) or (find(name, "_", 1, true) and is_dashed_identity_header(name))) and true or false
  if nclassified < MAX_CLASSIFIED then
    classified[name] = c
    nclassified = nclassified + 1
  end
  return c
end

-- The request's headers are read where nginx keeps them (lower-cased names, the values in
-- place), without the table of strings ngx.req.get_headers builds: only the names are made Lua
-- strings, and only the values the edge reads.
local base = require "resty.core.base"
require "resty.core.request" -- declares the ngx_http_lua_ffi_req_get_headers functions
local C = ffi.C
local ffi_str, ffi_cast = ffi.string, ffi.cast
local get_request, get_string_buf = base.get_request, base.get_string_buf
local elt_ptr = ffi.typeof("ngx_http_lua_ffi_table_elt_t*")
local elt_size = ffi.sizeof("ngx_http_lua_ffi_table_elt_t")
local truncated = ffi.new("int[1]")
local max_headers = 100

-- The decision each request in flight was sent on, for its header filter, its log phase and the
-- watch of open answers, by the request's address: ngx.ctx made a table and a registry reference
-- for every request and looked it up through the C API in each phase (~2,000 instructions a
-- request). Each request's entry is cleared as it comes in (lookup(), which every request runs
-- first: an address is reused) and taken out in its log phase, which nginx runs for every request
-- wherever it ends (the server's log phase forgets it; the watch reads a request by its address,
-- so an entry must not outlive its request).
local intptr = ffi.typeof("intptr_t")
local sent = {}
local function request_id()
  return tonumber(ffi_cast(intptr, get_request()))
end

-- The credentials of a request the edge may answer (false when absent), and the names to drop
-- before it goes on (nil when none: the usual case allocates no table); nil when the core must
-- have it (an upgrade, a body, a stream, repeated credentials, too many headers).
local function read_headers()
  local r = get_request()
  local n = C.ngx_http_lua_ffi_req_get_headers_count(r, max_headers, truncated)
  if n < 0 or truncated[0] ~= 0 then return nil end
  local buf = ffi_cast(elt_ptr, get_string_buf(n * elt_size))
  if n > 0 and C.ngx_http_lua_ffi_req_get_headers(r, buf, n, 0) ~= 0 then return nil end
  -- Where the credentials are (-1: not seen), not their values: a variable the loop carries keeps
  -- one type, or LuaJIT leaves the loop's trace for the interpreter once it changes.
  local authorization_at, cookie_at, drop = -1, -1, nil
  for i = 0, n - 1 do
    local h = buf[i]
    local name = ffi_str(h.key.data, h.key.len)
    local kind = header_kind[name]
    if kind == CREDENTIAL then
      if authorization_at >= 0 then return nil end
      authorization_at = i
    elseif kind == COOKIE then
      if cookie_at >= 0 then return nil end
      cookie_at = i
    elseif kind == TO_CORE then
      return nil
    elseif kind == CHECK then
      local v = ffi_str(h.value.data, h.value.len)
      if name == "content-length" then
        if v ~= "0" then return nil end
      elseif name == "accept" then
        -- Media types are case-insensitive: "Text/Event-Stream" is an event stream too.
        if find(lower(v), "text/event-stream", 1, true) then return nil end
      elseif v ~= "keep-alive" and v ~= "close" then -- connection: anything else names hop-by-hop headers
        return nil
      end
    elseif kind == DROP or (not kind and dropped(name)) then
      if drop then drop[#drop + 1] = name else drop = { name } end
    end
  end
  local authorization, cookie = false, false
  if authorization_at >= 0 then authorization = ffi_str(buf[authorization_at].value.data, buf[authorization_at].value.len) end
  if cookie_at >= 0 then cookie = ffi_str(buf[cookie_at].value.data, buf[cookie_at].value.len) end
  return authorization, cookie, drop
end

local function without_core_cookies(cookie)
  if not find(cookie, "mortise_", 1, true) then return cookie end
  local kept = {}
  for part in string.gmatch(cookie, "[^;]+") do
    local name = part:match("^%s*([^=]*)")
    if not (name and sub(name, 1, 8) == "mortise_") then
      kept[#kept + 1] = part:match("^%s*(.-)%s*$")
    end
  end
  if #kept == 0 then return nil end
  return concat(kept, "; ")
end

local function to_core()
  return ngx.exec("@core")
end

local safe = { GET = true, HEAD = true, OPTIONS = true }

-- One request per key asks the core; the others of this worker that miss the same key meanwhile
-- wait for its answer (64 connections missing at once were 64 decisions, each minting nothing new).
local deciding = {}

-- A decision the core made for (method, key), kept for the key's next requests while it may be.
local function keep(d, method, key)
  if not (d and d.upstream) then return nil end
  d.method = method
  d.key = key
  if d.ttl > 0 then decisions:set(key, d, d.ttl) end
  return d
end

local function ask_core(method, uri, key)
  local ok, res = pcall(ngx.location.capture, "/_mortise_edge/decide", { method = ngx.HTTP_GET, args = { m = method, u = uri } })
  if not ok or res.status ~= 200 then return nil end
  return keep(parse(res.body), method, key)
end

local function decide(method, uri, key)
  local pending = deciding[key]
  if pending then
    pending.waiting = pending.waiting + 1
    -- nil (the core answers this request itself) when the asking request got no decision in time.
    if pending.sema:wait(5) then return pending.d end
    return nil
  end
  pending = { sema = semaphore.new(0), waiting = 0 }
  deciding[key] = pending
  local d = ask_core(method, uri, key)
  pending.d = d
  deciding[key] = nil
  if pending.waiting > 0 then pending.sema:post(pending.waiting) end
  return d
end

-- Whether this worker can cut an answer it forwards (below): nil until its first request.
local layout_ok, check_layout

-- What a request the edge may answer is keyed on, and what it needs to answer it; nil when the
-- core must have the request.
local function request_key()
  if not layout_ok and not check_layout() then return nil end
  local method = ngx.req.get_method()
  if not safe[method] then return nil end
  local authorization, cookie, drop = read_headers()
  if authorization == nil or (not authorization and not cookie) then return nil end
  authorization, cookie = authorization or nil, cookie or nil
  local uri = ngx.var.request_uri
  return method .. "\n" .. uri .. "\n" .. (authorization or "") .. "\n" .. (cookie or ""), method, uri, cookie, drop
end

-- The request as the decision says it goes to the backend.
local function apply(d, cookie, drop)
  -- What the client sent that a backend must never see, as the core's gateway drops it. The
  -- credentials stay in the request (nginx.conf sends neither the Authorization header nor the
  -- core's cookies upstream): should nginx fail to reach the backend, the core gets the request.
  if drop then for i = 1, #drop do clear_header(drop[i]) end end
  if cookie then ngx.var.mc = without_core_cookies(cookie) or "" end
  for i = 1, #d.remove do clear_header(d.remove[i]) end
  for i = 1, #d.set do set_header(d.set[i][1], d.set[i][2]) end
  -- The identity, X-Forwarded-* and the Host are set by nginx.conf (after anything the client
  -- sent), from the variables below (nginx.conf says why their names are short); the identity's,
  -- $mi, by the caller.
  sent[request_id()] = d
  local var = ngx.var
  var.mt = d.target
  var.mh = d.upstream_host
  if d.prefix then var.mp = d.prefix end
end

-- The usual request, one whose decision this worker holds, is answered from nginx's rewrite
-- phase (set_by_lua: no coroutine, no access phase, ~2 µs less a request). Its identity (what
-- set_by_lua puts in $mi) when it was; "" (the request unchanged) sends it to the access phase of
-- @mortise_decide, below.
function M.lookup()
  sent[request_id()] = nil
  local key, _, _, cookie, drop = request_key()
  if not key then return "" end
  local d = decisions:get(key)
  if not d or d.epoch ~= current_epoch() then return "" end
  apply(d, cookie, drop)
  return d.identity
end

-- The rest: a decision asked of the core, or the core answers.
function M.access()
  local key, method, uri, cookie, drop = request_key()
  if not key then return to_core() end
  local d = decisions:get(key)
  if not d or d.epoch ~= current_epoch() then
    d = decide(method, uri, key)
    if not d then return to_core() end
  end
  apply(d, cookie, drop)
  ngx.var.mi = d.identity
end

function M.header_filter()
  local d = sent[request_id()]
  if not d then return end
  local cookies = ngx.header["Set-Cookie"]
  if cookies then
    -- A backend must not set (or fix) the console's session.
    if type(cookies) ~= "table" then cookies = { cookies } end
    local kept = {}
    for i = 1, #cookies do
      local name = cookies[i]:match("^%s*([^=]*)")
      if not (name and sub(name, 1, 8) == "mortise_") then kept[#kept + 1] = cookies[i] end
    end
    ngx.header["Set-Cookie"] = #kept > 0 and kept or nil
  end
  for i = 1, #d.down do ngx.header[d.down[i][1]] = d.down[i][2] end
end

-- Every request nginx forwards itself stays authorized for as long as it is open, as the core's
-- gateway keeps each answer it forwards (open-grants.ts): once the epoch moves on, each worker's
-- watch (below) has the core decide the request of each of its answers still open again, once per
-- request key, and cuts those no longer allowed. A body filter did this at each write of an answer
-- before: lua-nginx-module ran it for every answer, twice for most (~3,800 instructions a request,
-- ~9 % of the edge's work), and a quiet stream was cut only at its next write.

-- The client's connection of a request in flight, found from the request (its address, which
-- nginx's own FFI functions take): ngx_http_request_t starts with its signature and the
-- connection, ngx_connection_t with data, read, write and the socket. Checked against the
-- kernel's view of the socket at a worker's first request (check_layout): should it not hold,
-- the worker answers nothing itself (it could not cut what it forwards) and says so.
ffi.cdef [[
int shutdown(int fd, int how);
int getsockname(int fd, void *addr, unsigned int *len);
int getpeername(int fd, void *addr, unsigned int *len);
]]
require "resty.core.var" -- declares ngx_http_lua_ffi_var_get
local HTTP_SIGNATURE = 0x50545448 -- "HTTP"
local request_ptr = ffi.typeof("ngx_http_request_t *")
local u32_ptr, ptr_ptr, int_ptr = ffi.typeof("uint32_t *"), ffi.typeof("void **"), ffi.typeof("int *")
local FD_AT = 3 * ffi.sizeof("void *") / ffi.sizeof("int") -- after data, read and write
local function connection_fd(r)
  if ffi_cast(u32_ptr, r)[0] ~= HTTP_SIGNATURE then return nil end
  local c = ffi_cast(ptr_ptr, r)[1]
  if c == nil then return nil end
  local fd = ffi_cast(int_ptr, c)[FD_AT]
  if fd < 0 then return nil end
  return fd
end

-- The port of a socket's own or its peer's address (both families keep it at bytes 2-3, in network order).
local sockaddr_buf = ffi.new("uint8_t[128]")
local socklen_buf = ffi.new("unsigned int[1]")
local function socket_port(get, fd)
  socklen_buf[0] = 128
  if get(fd, sockaddr_buf, socklen_buf) ~= 0 then return nil end
  return sockaddr_buf[2] * 256 + sockaddr_buf[3]
end

-- A variable of a request in flight, read from elsewhere (the watch, a timer of its own).
local var_value = ffi.new("char *[1]")
local var_len = ffi.new("size_t[1]")
local var_err = ffi.new("char *[1]")
local function request_var(r, name)
  local buf = get_string_buf(#name)
  if C.ngx_http_lua_ffi_var_get(r, name, #name, buf, 0, var_value, var_len, var_err) ~= 0 then return nil end
  return ffi_str(var_value[0], var_len[0])
end

check_layout = function()
  if layout_ok ~= nil then return layout_ok end
  local r = get_request()
  local fd = connection_fd(r)
  layout_ok = fd ~= nil
    and socket_port(C.getsockname, fd) == tonumber(request_var(r, "server_port"))
    and socket_port(C.getpeername, fd) == tonumber(request_var(r, "remote_port"))
  if not layout_ok then
    ngx.log(ngx.ERR, "mortise edge: this nginx's requests are not laid out as the edge reads them: it could not cut an answer it forwards, so the core answers every request")
  end
  return layout_ok
end

-- Asks the core to decide a request again, as its first decision was made (over the core socket,
-- with its method, URI and credentials): the epoch it was decided at, or nil when it would no longer
-- be made. (The decision may send the key's next requests elsewhere, a route moved to another
-- backend: an answer in flight is finished where it is, as on the core's port.)
local function redecide(key, host, client)
  local method, uri, authorization, cookie = key:match("^([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)$")
  if not method then return nil end
  local sock = ngx.socket.tcp()
  sock:settimeout(5000)
  if not sock:connect("unix:" .. core_socket) then return nil end
  local lines = {
    "GET /_mortise_edge/decide?m=", ngx.escape_uri(method), "&u=", ngx.escape_uri(uri), " HTTP/1.1\r\n",
    "Host: ", host, "\r\nConnection: close\r\nX-Mortise-Edge-Secret: ", secret, "\r\nX-Mortise-Edge-Client: ", client, "\r\n",
  }
  if authorization ~= "" then lines[#lines + 1] = "Authorization: " .. authorization .. "\r\n" end
  if cookie ~= "" then lines[#lines + 1] = "Cookie: " .. cookie .. "\r\n" end
  lines[#lines + 1] = "\r\n"
  local d
  if sock:send(concat(lines)) then
    local raw = sock:receive("*a")
    local head_end = raw and find(raw, "\r\n\r\n", 1, true)
    if head_end and sub(raw, 1, 12) == "HTTP/1.1 200" then d = parse(sub(raw, head_end + 4)) end
  end
  sock:close()
  if not d then return nil end
  keep(d, method, key)
  return d.epoch
end

-- A request's decision, allowed again as of a later epoch: what it was sent with stays (its
-- route's counters, its backend), only the epoch moves on.
local function allowed_at(was, epoch)
  local again = {}
  for k, v in pairs(was) do again[k] = v end
  again.epoch = epoch
  return again
end

-- Ends an answer in flight: its client's connection is shut down, which nginx sees at once as the
-- client gone (it closes the backend's connection, whose request is aborted, and logs a 499).
local function cut(id, d)
  local fd = connection_fd(ffi_cast(request_ptr, id))
  if fd and C.shutdown(fd, 2) == 0 then -- SHUT_RDWR
    ngx.log(ngx.INFO, "mortise edge: an open answer to ", d.user, " is cut: its request is no longer allowed")
  else
    ngx.log(ngx.ERR, "mortise edge: an open answer to ", d.user, " is no longer allowed and could not be cut")
  end
end

-- The answers still open whose decision is older than `epoch`, by key; each decided again (the
-- keys at once, in threads of the watch), then allowed on or cut. An answer that ended meanwhile,
-- or whose request is decided anew by then, is left alone.
local function recheck_key(key, open, epoch)
  local first
  for i = 1, #open do
    if sent[open[i][1]] == open[i][2] then first = open[i][1]; break end
  end
  if not first then return end
  local r = ffi_cast(request_ptr, first)
  local at = redecide(key, request_var(r, "http_host") or "", request_var(r, "remote_addr") or "")
  for i = 1, #open do
    local id, was = open[i][1], open[i][2]
    if sent[id] == was then
      if at then sent[id] = allowed_at(was, at) else cut(id, was) end
    end
  end
  -- Decided as of another epoch than the one watched (the core moved on meanwhile): watched again next round.
  return not at or at == epoch
end

local watched_epoch
local function check_open()
  local epoch = current_epoch()
  if epoch == watched_epoch then return end
  local stale
  for id, d in pairs(sent) do
    if d.epoch ~= epoch then
      -- Decided again meanwhile (another request with the same credentials): allowed.
      local current = decisions:get(d.key)
      if current and current.epoch == epoch then
        sent[id] = allowed_at(d, epoch)
      else
        stale = stale or {}
        local open = stale[d.key]
        if open then open[#open + 1] = { id, d } else stale[d.key] = { { id, d } } end
      end
    end
  end
  local settled = true
  if stale then
    local threads = {}
    for key, open in pairs(stale) do threads[#threads + 1] = ngx.thread.spawn(recheck_key, key, open, epoch) end
    for i = 1, #threads do
      local _, done = ngx.thread.wait(threads[i])
      if done == false then settled = false end
    end
  end
  -- An epoch that moved on again meanwhile is watched in the next round.
  if settled then watched_epoch = epoch end
end

-- Each worker looks at the epoch (a page every worker maps: a few instructions) every 50 ms. A
-- worker a reload retired keeps watching while it still serves answers (nginx waits for its sleep).
local WATCH_INTERVAL = 0.05
local function watch_open()
  while true do
    local ok, err = pcall(check_open)
    if not ok then ngx.log(ngx.ERR, "mortise edge: watching open answers: ", err) end
    if ngx.worker.exiting() and next(sent) == nil then return end
    ngx.sleep(WATCH_INTERVAL)
  end
end

-- Counters the core reads when /metrics is scraped (mortise_edge_*), kept per worker and added
-- to the shared dict every second (and before the core reads them), and the audit events of
-- requests the backend refused (401 and 403 are audited whoever answers).
local pending = {}

local function count(key, n)
  pending[key] = (pending[key] or 0) + n
end

function M.flush()
  local p = pending
  pending = {}
  for k, n in pairs(p) do stats:incr(k, n, 0) end
end

-- Without its core nobody can revoke anything: decisions stop at once and nginx quits. A worker
-- whose master is gone (killed: the core stops orphans by pid, this is for a core gone too)
-- stops as well, as it would have with the master's process group.
local function watch_core()
  if ffi.C.getppid() ~= master_pid then
    set_epoch(-1)
    ngx.log(ngx.WARN, "mortise edge: the master (pid ", master_pid, ") is gone; this worker stops")
    ffi.C.kill(ffi.C.getpid(), 9)
    return
  end
  if ffi.C.kill(core_pid, 0) ~= 0 then
    set_epoch(-1)
    ngx.log(ngx.WARN, "mortise edge: the core (pid ", core_pid, ") is gone; quitting")
    ffi.C.kill(master_pid, 3) -- SIGQUIT to the master: a graceful stop
  end
end

function M.init_worker()
  ngx.timer.every(1, M.flush)
  ngx.timer.every(1, watch_core)
  ngx.timer.at(0, watch_open)
end

-- The log phase of the locations that send no request to a backend themselves: a request that
-- went on to the core after it was sent to a backend (a 502 or 504 from it) is forgotten.
function M.forget()
  sent[request_id()] = nil
end

function M.log()
  local id = request_id()
  local d = sent[id]
  if not d then return end
  sent[id] = nil
  local status = ngx.status
  -- The series' keys are made once per decision (a decision is for one method), not per request.
  local keys = d.keys
  if not keys then
    local series = d.route .. "\t" .. d.method
    keys = { s = "s\t" .. series, n = {}, b = {}, series = series }
    for i = 1, #buckets do keys.b[i] = "b\t" .. series .. "\t" .. bucket_names[i] end
    d.keys = keys
  end
  local nkey = keys.n[status]
  if not nkey then
    nkey = "n\t" .. keys.series .. "\t" .. status
    keys.n[status] = nkey
  end
  count(nkey, 1)
  local seconds = ngx.now() - ngx.req.start_time()
  count(keys.s, seconds)
  for i = 1, #buckets do
    if seconds <= buckets[i] then
      count(keys.b[i], 1)
      break
    end
  end
  if status == 401 or status == 403 then
    stats:rpush("audit", concat({ d.method, ngx.var.request_uri, ngx.var.remote_addr, d.user, status, ngx.req.start_time(), ngx.var.http_user_agent or "", d.groups or "" }, "\t"))
  end
end

local function authorized()
  return secret and ngx.var.http_x_mortise_edge_secret == secret
end

-- The core's control requests (on the control socket, with the shared secret).
function M.control()
  if not authorized() then return ngx.exit(403) end
  local uri = ngx.var.uri
  if uri == "/epoch" then
    ngx.req.read_body()
    local epoch = tonumber(ngx.req.get_body_data() or "")
    if not epoch then return ngx.exit(400) end
    set_epoch(epoch)
    decisions:flush_all()
    ngx.say(epoch)
    return
  end
  if uri == "/generation" then
    ngx.say(generation)
    return
  end
  if uri == "/stats" then
    M.flush()
    local keys = stats:get_keys(0)
    local out = {}
    for i = 1, #keys do
      local k = keys[i]
      if k ~= "audit" then
        local v = stats:get(k)
        if v then out[#out + 1] = k .. "\t" .. v end
      end
    end
    ngx.print(concat(out, "\n"))
    return
  end
  if uri == "/audit" then
    local out = {}
    for _ = 1, 1000 do
      local v = stats:lpop("audit")
      if not v then break end
      out[#out + 1] = v
    end
    ngx.print(concat(out, "\n"))
    return
  end
  return ngx.exit(404)
end

return M
