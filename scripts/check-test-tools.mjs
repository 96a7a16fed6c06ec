#!/usr/bin/env node
// Runs before `npm test`: the tests drive real tools.
import { ensureDebianTools } from './debian-tools.mjs';

ensureDebianTools([
  { cmd: 'kubectl', debian: 'kubernetes-client', why: 'the API tests drive the real kubectl' },
  { cmd: 'chromium', debian: 'chromium', why: 'the console tests drive headless Chromium (/usr/bin/chromium) with playwright-core' },
  { cmd: 'fonts for Chinese', check: 'fc-list :lang=zh | grep -q .', debian: 'fonts-noto-cjk', why: 'the console tests check that Chinese renders' },
  { cmd: 'bwrap', debian: 'bubblewrap', why: 'the DevOps extension runs pipeline steps in bubblewrap' },
  { cmd: 'git', debian: 'git', why: 'the DevOps tests check out a local git repository' },
  { cmd: 'nginx', debian: 'nginx-light', why: 'the service mesh\'s native data plane tests run real nginx' },
  { cmd: 'nginx\'s Lua module', check: 'test -f /usr/lib/nginx/modules/ndk_http_module.so && test -f /usr/lib/nginx/modules/ngx_http_lua_module.so && test -f /usr/share/lua/5.1/resty/core.lua', debian: 'libnginx-mod-http-lua', why: 'the native edge\'s and the service mesh\'s native data plane tests run real nginx with its Lua module (which loads Debian\'s ndk module and lua-resty-core)' },
]);

// The kubernetes-mode tests run the core against a real kube-apiserver + etcd: built once
// (≈ 11 min on two cores) into ~/.cache/mortise, instantly found afterwards.
const { ensureKubeApiserver } = await import('./kube-apiserver.mjs');
try {
  ensureKubeApiserver();
} catch (e) {
  process.stderr.write(`could not build kube-apiserver for the kubernetes-mode tests: ${e.message}\nRun \`node scripts/kube-apiserver.mjs\` to see why.\n`);
  process.exit(1);
}
