import { describe, expect, it } from 'vitest';
import { toDestinationRule, toIstio, toVirtualService } from '../src/istio.js';
import type { CircuitBreaker, GrayRelease, MeshService, TrafficRule } from '../src/types.js';
import { compileRegex, validateGrayRelease, validateTrafficRule } from '../src/validate.js';

// The translation to Istio at the object level: what a cluster would be given for the same rules.

const meta = (name: string) => ({ name, namespace: 'shop' });
const catalog: MeshService = { metadata: meta('catalog'), spec: { versions: [{ name: 'v1', endpoints: ['http://10.0.0.1:80'] }, { name: 'v2', labels: { app: 'catalog', track: 'canary' }, endpoints: ['http://10.0.0.2:80'] }] } };
const rule = (name: string, routes: TrafficRule['spec']['routes']): TrafficRule => ({ metadata: meta(name), spec: { service: 'catalog', routes } });

describe('Istio translation', () => {
  it('a MeshService is a DestinationRule with a subset per version; its CircuitBreaker the trafficPolicy', () => {
    const cb: CircuitBreaker = { metadata: meta('catalog'), spec: { service: 'catalog', connectionPool: { maxConnections: 10, maxRequests: 100, maxPendingRequests: 5 }, outlierDetection: { consecutive5xxErrors: 3, baseEjectionTimeMs: 15_000, maxEjectionPercent: 50 } } };
    expect(toDestinationRule(catalog, cb)).toEqual({
      apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule',
      metadata: { name: 'catalog', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'mortise-servicemesh' } },
      spec: {
        host: 'catalog',
        subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { app: 'catalog', track: 'canary' } }],
        trafficPolicy: {
          connectionPool: { tcp: { maxConnections: 10 }, http: { http1MaxPendingRequests: 5, http2MaxRequests: 100 } },
          outlierDetection: { consecutive5xxErrors: 3, interval: '1s', baseEjectionTime: '15s', maxEjectionPercent: 50 },
        },
      },
    });
    expect(toDestinationRule(catalog).spec.trafficPolicy).toBeUndefined();
  });

  it('TrafficRules become the http routes in order: matches, weights, retries, timeouts, faults, mirroring', () => {
    const vs = toVirtualService(catalog, [
      rule('b-default', [{ destinations: [{ version: 'v1', weight: 90 }, { version: 'v2' }], timeoutMs: 1500, retries: { attempts: 3, perTryTimeoutMs: 500, retryOn: ['5xx', 'connect-failure'] }, fault: { delay: { percent: 10, fixedDelayMs: 200 }, abort: { percent: 5, httpStatus: 503 } }, mirror: { version: 'v2', percent: 20 } }]),
      rule('a-testers', [{ name: 'testers', match: [{ headers: { 'X-User': { exact: 'tester' } }, pathPrefix: '/api' }, { cookies: { group: { exact: 'beta.1' } } }], destinations: [{ version: 'v2' }] }]),
    ]);
    expect(vs.spec).toEqual({
      hosts: ['catalog'],
      http: [
        {
          name: 'testers',
          match: [{ headers: { 'x-user': { exact: 'tester' } }, uri: { prefix: '/api' } }, { headers: { cookie: { regex: '^(.*?;\\s*)?group=beta\\.1(;.*)?$' } } }],
          route: [{ destination: { host: 'catalog', subset: 'v2' } }],
        },
        {
          name: 'route-0',
          route: [{ destination: { host: 'catalog', subset: 'v1' }, weight: 90 }, { destination: { host: 'catalog', subset: 'v2' }, weight: 10 }],
          timeout: '1.5s',
          retries: { attempts: 3, perTryTimeout: '0.5s', retryOn: '5xx,connect-failure' },
          fault: { delay: { percentage: { value: 10 }, fixedDelay: '0.2s' }, abort: { percentage: { value: 5 }, httpStatus: 503 } },
          mirror: { host: 'catalog', subset: 'v2' },
          mirrorPercentage: { value: 20 },
        },
      ],
    });
    // The cookie regex means what the data plane's cookie match means.
    const cookieRe = compileRegex((vs.spec.http as Array<{ match?: Array<{ headers?: { cookie?: { regex: string } } }> }>)[0]!.match![1]!.headers!.cookie!.regex);
    expect(cookieRe.test('a=1; group=beta.1')).toBe(true);
    expect(cookieRe.test('group=beta.1; b=2')).toBe(true);
    expect(cookieRe.test('group=betaX1')).toBe(false);
    expect(cookieRe.test('xgroup=beta.1')).toBe(false);
  });

  it('with no rule, the default version takes every request', () => {
    expect(toVirtualService(catalog, []).spec.http).toEqual([{ name: 'default', route: [{ destination: { host: 'catalog', subset: 'v1' } }] }]);
  });

  it('a GrayRelease decides the destinations: canary by weight and header, blue-green, mirror, promoted, rolled back', () => {
    const gr = (spec: Partial<GrayRelease['spec']>, status?: GrayRelease['status']): GrayRelease => ({ metadata: meta('catalog-v2'), spec: { service: 'catalog', stable: 'v1', canary: 'v2', strategy: 'canary', ...spec }, ...(status ? { status } : {}) });
    const http = (g: GrayRelease) => toVirtualService(catalog, [], g).spec.http;
    expect(http(gr({ header: { name: 'X-Canary', exact: 'yes' } }, { phase: 'Progressing', canaryWeight: 20 }))).toEqual([
      { name: 'default-catalog-v2-header', match: [{ headers: { 'x-canary': { exact: 'yes' } } }], route: [{ destination: { host: 'catalog', subset: 'v2' } }] },
      { name: 'default', route: [{ destination: { host: 'catalog', subset: 'v1' }, weight: 80 }, { destination: { host: 'catalog', subset: 'v2' }, weight: 20 }] },
    ]);
    expect(http(gr({ strategy: 'blueGreen' }, { phase: 'Progressing', canaryWeight: 100 }))).toEqual([{ name: 'default', route: [{ destination: { host: 'catalog', subset: 'v2' } }] }]);
    expect(http(gr({ strategy: 'blueGreen' }, { phase: 'Progressing', canaryWeight: 0 }))).toEqual([{ name: 'default', route: [{ destination: { host: 'catalog', subset: 'v1' } }] }]);
    expect(http(gr({ strategy: 'mirror' }))).toEqual([{ name: 'default', route: [{ destination: { host: 'catalog', subset: 'v1' } }], mirror: { host: 'catalog', subset: 'v2' }, mirrorPercentage: { value: 100 } }]);
    expect(http(gr({}, { phase: 'Promoted', canaryWeight: 100 }))).toEqual([{ name: 'default', route: [{ destination: { host: 'catalog', subset: 'v2' } }] }]);
    expect(http(gr({}, { phase: 'RolledBack', canaryWeight: 0 }))).toEqual([{ name: 'default', route: [{ destination: { host: 'catalog', subset: 'v1' } }] }]);
  });

  it('a namespace gives a VirtualService and a DestinationRule per MeshService', () => {
    const inventory: MeshService = { metadata: meta('inventory'), spec: { versions: [{ name: 'v1', endpoints: ['http://10.0.0.3:80'] }] } };
    const objs = toIstio({ services: [catalog, inventory], rules: [rule('r', [{ destinations: [{ version: 'v2' }] }])], breakers: [], releases: [] });
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['VirtualService/catalog', 'DestinationRule/catalog', 'VirtualService/inventory', 'DestinationRule/inventory']);
  });
});

describe('rule validation (the admission path and the data plane share it)', () => {
  const versions = (s: string) => (s === 'catalog' ? ['v1', 'v2'] : undefined);
  it('names every field that is wrong', () => {
    const causes = validateTrafficRule({
      service: 'catalog',
      routes: [
        { destinations: [{ version: 'v1', weight: 50 }, { version: 'v2', weight: 40 }] },
        { destinations: [{ version: 'v1' }, { version: 'v2' }] },
        { match: [{ headers: { a: { regex: '(' } }, cookies: { c: { regex: '[z-a]' } } }], destinations: [{ version: 'v3' }], mirror: { version: 'v4' } },
      ],
    }, versions).map((c) => c.field);
    expect(causes).toEqual(['spec.routes[0].destinations', 'spec.routes[1].destinations', 'spec.routes[2].destinations[0].version', 'spec.routes[2].mirror.version', 'spec.routes[2].match[0].headers.a.regex', 'spec.routes[2].match[0].cookies.c.regex']);
    expect(validateTrafficRule({ service: 'catalog', routes: [{ destinations: [{ version: 'v1', weight: 70 }, { version: 'v2' }] }] }, versions)).toEqual([]);
    expect(validateGrayRelease({ service: 'catalog', stable: 'v1', canary: 'v1', strategy: 'canary', steps: [50, 10], step: 5 }, versions).map((c) => c.field)).toEqual(['spec.canary', 'spec.steps[1]', 'spec.step']);
  });
});
