import { describe, expect, it } from 'vitest';
import { MeshState } from '../src/mesh-state.js';
import { nginxConfig, quote, serviceConfig, type NginxOptions } from '../src/nginx-config.js';
import { chooseDataPlane, findNginx } from '../src/nginx-plane.js';

// The nginx configuration written from the rules, read as text: what each rule becomes and what
// is refused before nginx is asked (nginx-plane.test.ts runs these configurations in real nginx).

const o: NginxOptions = { dir: '/d', port: 8000, logFile: '/d/access.log', delayUrl: 'http://127.0.0.1:9001', generation: 7 };
const meta = (name: string) => ({ name, namespace: 'shop' });

function routingOf(routes: unknown[], versions: Array<[string, string[]]> = [['v1', ['http://127.0.0.1:1', 'http://127.0.0.1:2']], ['v2', ['http://127.0.0.1:3']]], breaker?: unknown) {
  const state = new MeshState();
  state.apply('MeshService', 'ADDED', { metadata: meta('catalog'), spec: { versions: versions.map(([name, endpoints]) => ({ name, endpoints })) } });
  if (routes.length) state.apply('TrafficRule', 'ADDED', { metadata: meta('r'), spec: { service: 'catalog', routes } } as never);
  if (breaker) state.apply('CircuitBreaker', 'ADDED', { metadata: meta('cb'), spec: { service: 'catalog', ...(breaker as object) } });
  return state.lookup('catalog', 'shop')!;
}

describe('the nginx configuration of the mesh rules', () => {
  it('writes weights as split_clients, retries as listed endpoints and proxy_next_upstream', () => {
    const c = serviceConfig(routingOf([{ destinations: [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }], retries: { attempts: 2, perTryTimeoutMs: 250, retryOn: ['gateway-error'] }, timeoutMs: 1000 }]), 0, o);
    expect(c.http).toContain('split_clients "${request_id}s0r0" $s0_r0_v {\n  90% "v1";\n  * "v2";\n}');
    // Each endpoint three times (1 + 2 attempts), interleaved.
    expect(c.http.match(/server 127\.0\.0\.1:\d/g)!.slice(0, 6)).toEqual(['server 127.0.0.1:1', 'server 127.0.0.1:2', 'server 127.0.0.1:1', 'server 127.0.0.1:2', 'server 127.0.0.1:1', 'server 127.0.0.1:2']);
    expect(c.server).toContain('proxy_next_upstream timeout non_idempotent http_502 http_503 http_504;');
    expect(c.server).toContain('proxy_next_upstream_tries 3;');
    expect(c.server).toContain('proxy_next_upstream_timeout 1000ms;');
    expect(c.server).toContain('proxy_read_timeout 250ms;');
    expect(c.server).toContain('server_name catalog.shop;');
  });

  it('marks ejected endpoints down, unless every endpoint of the version is', () => {
    const r = routingOf([], undefined, { connectionPool: { maxConnections: 10, maxRequests: 5 } });
    const one = serviceConfig(r, 0, { ...o, ejected: new Set(['http://127.0.0.1:1']) });
    expect(one.http).toContain('server 127.0.0.1:1 max_fails=0 max_conns=5 down;');
    expect(one.http).toContain('server 127.0.0.1:2 max_fails=0 max_conns=5;');
    expect(one.server).toContain('limit_conn mesh_requests 5;');
    const all = serviceConfig(r, 0, { ...o, ejected: new Set(['http://127.0.0.1:3']) });
    expect(all.http).toContain('server 127.0.0.1:3 max_fails=0 max_conns=5;');
    // No retries asked: a request that got no answer is sent once more (each endpoint is listed twice).
    expect(one.server).toContain('proxy_next_upstream error;\n    proxy_next_upstream_tries 2;');
  });

  it('joins matches: conditions of a match with AND, matches of a route with OR, the first route matching', () => {
    const c = serviceConfig(routingOf([
      { match: [{ headers: { 'X-User': { prefix: 'a.b' } }, cookies: { group: { exact: 'beta' } } }, { pathPrefix: '/api' }], destinations: [{ version: 'v2' }] },
      { destinations: [{ version: 'v1' }] },
    ]), 0, o);
    expect(c.http).toContain('map $http_x_user $s0_r0_m0_c0 {\n  "~^a\\\\.b" 1;');
    expect(c.http).toContain('map ${cookie_group} $s0_r0_m0_c1 {\n  "~^beta$" 1;');
    expect(c.http).toContain('map "${s0_r0_m0_c0}${s0_r0_m0_c1}" $s0_r0_m0 {\n  11 1;');
    expect(c.http).toContain('map "${s0_r0_m0}${s0_r0_m1}" $s0_r0 {\n  ~1 1;');
    expect(c.http).toContain('map "${s0_r0}1" $s0_route {\n  "~^1" r0;\n  "~^01" r1;\n  default d;\n}');
  });

  it('refuses what nginx cannot hold, naming it', () => {
    expect(() => serviceConfig(routingOf([{ match: [{ headers: { 'x_user': { exact: 'a' } } }], destinations: [{ version: 'v1' }] }]), 0, o)).toThrow(/header "x_user"/);
    expect(() => serviceConfig(routingOf([{ match: [{ headers: { 'x-user': { exact: 'a\u0000' } } }], destinations: [{ version: 'v1' }] }]), 0, o)).toThrow(/control character/);
    expect(() => serviceConfig(routingOf([], [['v1', ['https://127.0.0.1:1']]]), 0, o)).toThrow(/http:\/\/ endpoints only/);
    expect(() => serviceConfig(routingOf([{ destinations: [{ version: 'v1' }], fault: { abort: { percent: 5, httpStatus: 600 } } }]), 0, o)).toThrow(/200–599/);
    expect(quote('a"b\\c')).toBe('"a\\"b\\\\c"');
  });

  it('puts the generation, the log socket and the trace context in the configuration around the services', () => {
    const text = nginxConfig([serviceConfig(routingOf([]), 0, o)], o);
    expect(text).toContain('location = /.mesh/generation { return 200 "7"; }');
    expect(text).toContain('access_log /d/access.log mesh buffer=64k flush=100ms if=$mesh_log;');
    expect(text).toContain('proxy_set_header traceparent "00-$mesh_trace-$mesh_span-$mesh_flags";');
    expect(text).toMatch(/set \$mesh_span "\$\{mesh_rand\}[0-9a-f]{8}";/);
  });
});

describe('the data plane chosen by the dataPlane setting', () => {
  it('runs nginx when asked or found, node otherwise, and refuses nginx when there is none', () => {
    expect(findNginx('/nonexistent', [])).toBeUndefined();
    expect(chooseDataPlane('auto', undefined)).toBe('node');
    expect(chooseDataPlane('auto', '/usr/sbin/nginx')).toBe('nginx');
    expect(chooseDataPlane('node', '/usr/sbin/nginx')).toBe('node');
    expect(chooseDataPlane('nginx', '/usr/sbin/nginx')).toBe('nginx');
    expect(() => chooseDataPlane('nginx', undefined)).toThrow(/apt-get install nginx/);
  });
});
