import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeshState } from '../src/mesh-state.js';
import { luaString, nginxConfig, retryVariant, serviceRules, type NginxOptions } from '../src/nginx-config.js';
import { chooseDataPlane, findNginx, nginxLuaProblem } from '../src/nginx-plane.js';

// What the nginx plane writes, read as text: nginx.conf (the same whatever the rules) and each
// service's rules as the Lua table pushed to nginx, and what is refused before nginx is asked
// (nginx-plane.test.ts runs them in real nginx).

const o: NginxOptions = { dir: '/d', port: 8000, logFile: '/d/access.log', controlSocket: '/d/control/control.sock', modulesDir: '/usr/lib/nginx/modules' };
const meta = (name: string) => ({ name, namespace: 'shop' });

function routingOf(routes: unknown[], versions: Array<[string, string[]]> = [['v1', ['http://127.0.0.1:1', 'http://127.0.0.1:2']], ['v2', ['http://127.0.0.1:3']]], breaker?: unknown) {
  const state = new MeshState();
  state.apply('MeshService', 'ADDED', { metadata: meta('catalog'), spec: { versions: versions.map(([name, endpoints]) => ({ name, endpoints })) } });
  if (routes.length) state.apply('TrafficRule', 'ADDED', { metadata: meta('r'), spec: { service: 'catalog', routes } } as never);
  if (breaker) state.apply('CircuitBreaker', 'ADDED', { metadata: meta('cb'), spec: { service: 'catalog', ...(breaker as object) } });
  return state.lookup('catalog', 'shop')!;
}

describe('the rules pushed to nginx and its configuration', () => {
  it('writes weights as cumulative shares, retries as a retry location with tries and timeouts', () => {
    const lua = serviceRules(routingOf([{ destinations: [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }], retries: { attempts: 2, perTryTimeoutMs: 250, retryOn: ['gateway-error'] }, timeoutMs: 1000 }]));
    expect(lua).toContain('versions={"v1","v2"},cum={90,100},variant="tg",tries=3,perTry=250,timeout=1000');
    expect(lua).toContain('["v1"]={{"127.0.0.1",1,"http://127.0.0.1:1"},{"127.0.0.1",2,"http://127.0.0.1:2"}}');
    expect(lua).toMatch(/^return \{service="catalog",namespace="shop",tag="[0-9a-f]{8}",default="v1",/);
  });

  it('maps retryOn to the locations nginx has (proxy_next_upstream cannot be set per request)', () => {
    const route = (retryOn?: string[]) => routingOf([{ destinations: [{ version: 'v1' }], retries: { attempts: 1, ...(retryOn ? { retryOn } : {}) } }]).routes[0];
    expect(retryVariant(undefined)).toBe('n');
    expect(retryVariant(route())).toBe('te5');
    expect(retryVariant(route(['connect-failure']))).toBe('te');
    expect(retryVariant(route(['gateway-error', 'reset']))).toBe('teg');
    expect(retryVariant(route(['retriable-4xx']))).toBe('t');
    const conf = nginxConfig(o);
    expect(conf).toContain('location @teg {\n      proxy_next_upstream timeout non_idempotent error http_502 http_503 http_504;');
    expect(conf).toContain('location @t5_m {\n      mirror /.mesh/mirror;');
  });

  it('writes breakers, matches (AND within, OR between) and releases', () => {
    const lua = serviceRules(routingOf([
      { match: [{ headers: { 'X-User': { prefix: 'a.b' } }, cookies: { group: { regex: 'beta-[0-9]+' } } }, { pathPrefix: '/api' }], destinations: [{ version: 'v2' }] },
      { destinations: [{ version: 'v1' }] },
    ], undefined, { connectionPool: { maxRequests: 5, maxConnections: 4, maxPendingRequests: 0 }, outlierDetection: { consecutive5xxErrors: 3 } }));
    expect(lua).toContain('match={{{1,"http_x_user",2,"a.b"},{1,"cookie_group",3,"^(?:beta-[0-9]+)$"}},{{2,"",2,"/api"}}}');
    expect(lua).toContain('od={n=3,base=30000,max=100},maxRequests=5,maxConnections=4,maxPending=0');
  });

  it('refuses what nginx cannot hold, naming it, and writes any string Lua reads back as it was', () => {
    expect(() => serviceRules(routingOf([{ match: [{ headers: { 'x_user': { exact: 'a' } } }], destinations: [{ version: 'v1' }] }]))).toThrow(/header "x_user"/);
    expect(() => serviceRules(routingOf([], [['v1', ['https://127.0.0.1:1']]]))).toThrow(/http:\/\/ endpoints only/);
    expect(() => serviceRules(routingOf([{ destinations: [{ version: 'v1' }], fault: { abort: { percent: 5, httpStatus: 600 } } }]))).toThrow(/200–599/);
    expect(luaString('a"b\\c\n\u00e9]]')).toBe('"a\\"b\\\\c\\010\\195\\169]]"');
  });

  it('loads the Lua module and has the control socket, the sampled-span log and the trace context in nginx.conf', () => {
    const text = nginxConfig(o);
    expect(text.indexOf('load_module /usr/lib/nginx/modules/ndk_http_module.so;')).toBeLessThan(text.indexOf('load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;'));
    expect(text).toContain('lua_package_path "/d/lua/?.lua;/usr/share/lua/5.1/?.lua;;";');
    expect(text).toContain('listen unix:/d/control/control.sock;');
    expect(text).toContain('access_log /d/access.log mesh buffer=64k flush=100ms if=$ml;');
    expect(text).toContain('proxy_set_header traceparent $mt;');
    expect(text).toContain('balancer_by_lua_block { mesh.balance() }\n    # Idle');
  });
});

describe('the data plane chosen by the dataPlane setting', () => {
  it('runs nginx when asked or found, node otherwise, and refuses nginx when there is none', () => {
    expect(findNginx('/nonexistent', [])).toBeUndefined();
    expect(chooseDataPlane('auto', undefined)).toBe('node');
    expect(chooseDataPlane('auto', '/usr/sbin/nginx')).toBe('nginx');
    expect(chooseDataPlane('node', '/usr/sbin/nginx')).toBe('node');
    expect(chooseDataPlane('nginx', '/usr/sbin/nginx')).toBe('nginx');
    expect(() => chooseDataPlane('nginx', undefined)).toThrow(/apt-get install nginx-light libnginx-mod-http-lua/);
    // nginx without its Lua module: auto falls back to node, nginx is refused, naming the package.
    expect(chooseDataPlane('auto', '/usr/sbin/nginx', false)).toBe('node');
    expect(() => chooseDataPlane('nginx', '/usr/sbin/nginx', false)).toThrow(/Lua module.*libnginx-mod-http-lua/);
    // Asked of nginx itself: Debian's modules load (npm test's pretest installs them), others do not.
    const dir = mkdtempSync(join(tmpdir(), 'mortise-mesh-lua-'));
    try {
      const nginx = findNginx()!;
      expect(nginxLuaProblem(nginx, dir)).toBeUndefined();
      expect(nginxLuaProblem(nginx, dir, '/nonexistent')).toMatch(/nonexistent\/ndk_http_module\.so/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
