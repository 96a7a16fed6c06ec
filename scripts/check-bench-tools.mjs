#!/usr/bin/env node
// Runs before `npm run bench`: the gateway is measured with wrk against nginx as a same-run baseline.
import { ensureDebianTools } from './debian-tools.mjs';

ensureDebianTools([
  { cmd: 'wrk', debian: 'wrk', why: 'the benchmark\'s load generator for the gateway' },
  { cmd: 'chromium', debian: 'chromium', why: 'the console is measured in headless Chromium' },
  { cmd: 'nginx', debian: 'nginx-light', why: 'the gateway\'s same-run baseline: a reverse proxy in front of the same backend' },
  { cmd: 'nginx\'s Lua module', check: 'test -f /usr/lib/nginx/modules/ndk_http_module.so && test -f /usr/lib/nginx/modules/ngx_http_lua_module.so && test -f /usr/share/lua/5.1/resty/core.lua', debian: 'libnginx-mod-http-lua', why: 'the native edge and the service mesh\'s native data plane (nginx with its Lua module) are measured' },
]);
