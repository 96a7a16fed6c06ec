import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestCore, workspace, type TestCore } from './support/test-core.js';
import { causeFields, rawWrites, statusOf } from './support/k8s-helpers.js';

// The limits on what a write may carry (docs/api.md, "Input limits"): nesting depth, numbers
// JSON can hold, YAML restricted to the JSON-compatible core schema, spec and status of the
// declared type, query parameters given once, workspaces the controller can reconcile. Each
// refusal is a Status (400 or 422) naming the problem, and nothing is written; what is
// accepted at the limit reads back and can be written back as read.

const widgetsUrl = '/apis/limits.example.com/v1/namespaces/limits-ns/widgets';
const wsUrl = '/apis/tenant.mortise.io/v1alpha1/workspaces';
const usersUrl = '/apis/iam.mortise.io/v1alpha1/users';

/** `levels` objects nested inside each other, innermost holding 1. */
const nested = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
/** A Widget whose spec.free holds `inner` (JSON text); the body itself is 2 levels deep before it. */
const widget = (name: string, inner: string, extra = '') => `{"apiVersion":"limits.example.com/v1","kind":"Widget","metadata":{"name":"${name}"${extra}},"spec":{"free":${inner}}}`;

describe('input limits', () => {
  let t: TestCore;
  const { send, refused } = rawWrites(() => t);
  const causes = causeFields;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'limits-ns' } } })).status).toBe(201);
    expect((await t.api('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      method: 'POST',
      json: {
        metadata: { name: 'widgets.limits.example.com' },
        spec: {
          group: 'limits.example.com', scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'number' }, free: { 'x-kubernetes-preserve-unknown-fields': true } } } } } } }],
        },
      },
    })).status).toBe(201);
    await eventually(async () => (await t.api(widgetsUrl)).status === 200, 10_000, 'the Widget kind to be served');
    expect((await send(widgetsUrl, 'POST', widget('w', '{}'))).status).toBe(201);
    expect((await t.api(wsUrl, { method: 'POST', json: workspace('lim', {}, { manager: 'admin' }) })).status).toBe(201);
  }, 30_000);
  afterAll(async () => t?.close());

  describe('nesting depth (at most 100 levels)', () => {
    it('accepts an object exactly 100 levels deep, which reads back and can be written back as read', async () => {
      const res = await send(widgetsUrl, 'POST', widget('deepest', nested(98)));
      expect(res.status).toBe(201);
      const read = await t.api(`${widgetsUrl}/deepest`);
      expect(read.status).toBe(200);
      expect((await send(`${widgetsUrl}/deepest`, 'PUT', await read.text())).status).toBe(200);
    });

    it('refuses one level more, and thousands more, on create, update and every patch type, writing nothing', async () => {
      const current = await (await t.api(`${widgetsUrl}/w`)).text();
      for (const levels of [99, 2_000, 5_000, 100_000]) {
        const c = await refused(widgetsUrl, 'POST', widget(`deep-${levels}`, nested(levels)), 400);
        expect(c.message).toMatch(/nested at most 100 levels/);
        expect(c.message).toContain('spec.free.a');
        const withRv = current.replace(/"spec":\{.*\}\}$/, `"spec":{"free":${nested(levels)}}}`);
        await refused(`${widgetsUrl}/w`, 'PUT', withRv, 400);
        for (const ct of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
          await refused(`${widgetsUrl}/w`, 'PATCH', `{"spec":{"free":${nested(levels)}}}`, 400, ct);
        }
        await refused(`${widgetsUrl}/w`, 'PATCH', `[{"op":"add","path":"/spec/free/x","value":${nested(levels)}}]`, 400, 'application/json-patch+json');
        await refused(widgetsUrl, 'POST', `${'['.repeat(levels)}${']'.repeat(levels)}`, 400);
        await refused(widgetsUrl, 'POST', `spec:\n  free: ${'['.repeat(levels)}${']'.repeat(levels)}\n`, 400, 'application/yaml');
      }
    });

    it('refuses a patch whose result would be too deep, though the patch itself is not (422)', async () => {
      // The value sits 2 levels deep in the patch and 3 deep in the object.
      const s = await refused(`${widgetsUrl}/w`, 'PATCH', `[{"op":"add","path":"/spec/free/x","value":${nested(98)}}]`, 422, 'application/json-patch+json');
      expect(s.reason).toBe('Invalid');
      expect(s.message).toMatch(/nested at most 100 levels/);
    });
  });

  describe('numbers', () => {
    it('refuses numbers that overflow to infinity, in JSON and YAML, naming the field', async () => {
      for (const n of ['1e400', '-1e400', '1' + '0'.repeat(400)]) {
        const s = await refused(widgetsUrl, 'POST', `{"metadata":{"name":"num"},"spec":{"size":${n}}}`, 400);
        expect(s.message).toMatch(/spec\.size: .*numbers must be finite/);
        await refused(`${widgetsUrl}/w`, 'PATCH', `{"spec":{"size":${n}}}`, 400, 'application/merge-patch+json');
        await refused(`${widgetsUrl}/w`, 'PATCH', `[{"op":"replace","path":"/spec/free","value":[${n}]}]`, 400, 'application/json-patch+json');
      }
      for (const n of ['.inf', '-.inf', '.nan', '.NaN', '+.Inf']) {
        const s = await refused(widgetsUrl, 'POST', `metadata:\n  name: num\nspec:\n  size: ${n}\n`, 400, 'application/yaml');
        expect(s.message).toMatch(/spec\.size/);
      }
    });

    it('keeps large finite numbers as they are', async () => {
      const res = await send(widgetsUrl, 'POST', '{"metadata":{"name":"big"},"spec":{"size":1.5e308,"free":{"n":-1e-300}}}');
      expect(res.status).toBe(201);
      const read = await (await t.api(`${widgetsUrl}/big`)).json() as { spec: { size: number; free: { n: number } } };
      expect(read.spec).toEqual({ size: 1.5e308, free: { n: -1e-300 } });
    });
  });

  describe('YAML is the JSON-compatible core schema', () => {
    it('refuses other tags, complex keys and several documents with a 400 naming the problem, and prints nothing', async () => {
      const written: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      const emit = process.emitWarning.bind(process);
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        written.push(String(chunk));
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof process.stderr.write;
      process.emitWarning = ((w: string | Error) => void written.push(String(w))) as typeof process.emitWarning;
      try {
        for (const [value, what] of [
          ['!!binary aGVsbG8=', /tag:yaml.org,2002:binary/], ['!!set {a: null}', /tag:yaml.org,2002:set/],
          ['!!timestamp 2001-12-14', /timestamp/], ['!!omap [a: 1]', /omap/], ['!local x', /!local/], ['!<tag:example.com,2000:x> y', /example.com/],
        ] as const) {
          for (const fv of ['', '?fieldValidation=Warn', '?fieldValidation=Ignore']) {
            const s = await refused(`${widgetsUrl}${fv}`, 'POST', `metadata:\n  name: tagged\nspec:\n  free:\n    v: ${value}\n`, 400, 'application/yaml');
            expect(s.message).toMatch(what);
          }
          await refused(`${widgetsUrl}/w`, 'PUT', `metadata:\n  name: w\nspec:\n  free:\n    v: ${value}\n`, 400, 'application/yaml');
        }
        expect((await refused(widgetsUrl, 'POST', 'metadata:\n  name: k\nspec:\n  free:\n    ? [a, b]\n    : 1\n', 400, 'application/yaml')).message).toMatch(/mapping keys/);
        expect((await refused(widgetsUrl, 'POST', 'metadata:\n  name: k\nspec:\n  free:\n    ~: 1\n', 400, 'application/yaml')).message).toMatch(/mapping keys/);
        await refused(widgetsUrl, 'POST', 'metadata:\n  name: k\n---\nmetadata:\n  name: k2\n', 400, 'application/yaml');
        await refused(widgetsUrl, 'POST', 'metadata:\n  name: k\nspec:\n  free: &a\n    self: *a\n', 400, 'application/yaml');
        await refused(widgetsUrl, 'POST', 'metadata:\n  name: k\nspec:\n  free: {a: 1, a: 2}\n', 400, 'application/yaml');
      } finally {
        process.stderr.write = write;
        process.emitWarning = emit;
      }
      expect(written).toEqual([]);
    });

    it('accepts anchors, aliases and the core tags, stored as the JSON they mean', async () => {
      const yaml = 'metadata:\n  name: aliased\nspec:\n  size: !!float 2.5\n  free:\n    base: &b {x: 1, y: [true, null, "s"]}\n    copy: *b\n    s: !!str 12\n    n: 0x10\n';
      expect((await send(widgetsUrl, 'POST', yaml, 'application/yaml')).status).toBe(201);
      const read = await (await t.api(`${widgetsUrl}/aliased`)).json() as { spec: unknown };
      expect(read.spec).toEqual({ size: 2.5, free: { base: { x: 1, y: [true, null, 's'] }, copy: { x: 1, y: [true, null, 's'] }, s: '12', n: 16 } });
    });
  });

  describe('spec and status of the declared type, before any strategy runs (422 naming the field)', () => {
    const bad = ['"x"', '5', '[]', 'true'];
    it('on Workspaces, Users, Namespaces and custom resources, on create, update and patch', async () => {
      const targets: Array<[string, string, string]> = [
        [wsUrl, 'lim', '"apiVersion":"tenant.mortise.io/v1alpha1","kind":"Workspace"'],
        [usersUrl, 'admin', '"apiVersion":"iam.mortise.io/v1alpha1","kind":"User"'],
        ['/api/v1/namespaces', 'limits-ns', '"apiVersion":"v1","kind":"Namespace"'],
        [widgetsUrl, 'w', '"apiVersion":"limits.example.com/v1","kind":"Widget"'],
      ];
      for (const [url, existing, head] of targets) {
        for (const v of bad) {
          for (const field of ['spec', ...(url === widgetsUrl ? [] : ['status'])]) {
            const s = await refused(url, 'POST', `{${head},"metadata":{"name":"shape"},"${field}":${v}}`, 422);
            expect(causes(s)).toEqual([field]);
            expect(s.message).toContain(`${field} must be an object`);
            expect(causes(await refused(`${url}/${existing}`, 'PUT', `{${head},"metadata":{"name":"${existing}"},"${field}":${v}}`, 422))).toEqual([field]);
          }
          expect(causes(await refused(`${url}/${existing}`, 'PATCH', `{"spec":${v}}`, 422, 'application/merge-patch+json'))).toEqual(['spec']);
          expect(causes(await refused(`${url}/${existing}`, 'PATCH', `[{"op":"replace","path":"/spec","value":${v}}]`, 422, 'application/json-patch+json'))).toEqual(['spec']);
        }
      }
      // The admin's password still works: the User was never touched.
      expect((await t.api(`${usersUrl}/admin`)).status).toBe(200);
    });

    it('metadata of the wrong type is refused before a strategy reads it', async () => {
      const crd = (finalizers: string) => `{"metadata":{"name":"things.x.example.com","finalizers":${finalizers}},"spec":{"group":"x.example.com","scope":"Cluster","names":{"plural":"things","kind":"Thing"},"versions":[{"name":"v1","served":true,"storage":true}]}}`;
      for (const f of ['5', '"abc"', '{"a":1}']) {
        expect(causes(await refused('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', 'POST', crd(f), 422))).toContain('metadata.finalizers');
      }
      expect(causes(await refused(wsUrl, 'POST', '{"metadata":{"generateName":{"toString":1}}}', 422))).toContain('metadata.name');
      expect(causes(await refused(`${wsUrl}/lim`, 'PATCH', '{"metadata":{"name":{"toString":1}}}', 400, 'application/merge-patch+json'))).toEqual([]);
    });
  });

  describe('delete options', () => {
    it('of the wrong type are 400, and nothing is deleted', async () => {
      for (const body of ['{"propagationPolicy":{"toString":1}}', '{"propagationPolicy":5}', '{"preconditions":"x"}', '{"preconditions":{"uid":{"toString":1}}}', '{"preconditions":{"resourceVersion":7}}']) {
        const s = await refused(`${widgetsUrl}/w`, 'DELETE', body, 400);
        expect(s.message).toMatch(/propagationPolicy|preconditions/);
      }
      expect((await t.api(`${widgetsUrl}/w`)).status).toBe(200);
    });
  });

  describe('query parameters that mean one value', () => {
    it('are 400 when repeated, on every route that reads them by name', async () => {
      for (const url of [
        '/kapis/tenant.mortise.io/v1alpha1/workspaces?labelSelector=a&labelSelector=b',
        '/kapis/extensions.mortise.io/v1alpha1/extensions?q=a&q=b',
        '/kapis/extensions.mortise.io/v1alpha1/extensions?installed=true&installed=false',
        '/kapis/extensions.mortise.io/v1alpha1/extensions?category=a&category=b',
        '/kapis/iam.mortise.io/v1alpha1/users/admin/loginrecords?limit=1&limit=2',
      ]) {
        const s = await statusOf(await t.api(url), 400);
        expect(s.message).toMatch(/given 2 times/);
      }
      expect((await t.api('/kapis/tenant.mortise.io/v1alpha1/workspaces?labelSelector=a')).status).toBe(200);
    });
  });

  describe('workspaces the controller can reconcile', () => {
    it('refuses a name longer than a label value and a manager that is not a user name', async () => {
      const long = await refused(wsUrl, 'POST', JSON.stringify(workspace('w'.repeat(64), {}, { manager: 'admin' })), 422);
      expect(causes(long)).toEqual(['metadata.name']);
      expect(long.message).toMatch(/tenant.mortise.io\/workspace label/);
      for (const manager of ['Not A Name', 'UPPER', 'a_b', '-x']) {
        const s = await refused(wsUrl, 'POST', JSON.stringify(workspace('mgr', {}, { manager })), 422);
        expect(causes(s)).toEqual(['spec.manager']);
      }
      await refused(`${wsUrl}/lim`, 'PATCH', JSON.stringify({ spec: { manager: 'Bad Name' } }), 422, 'application/merge-patch+json');
      // The manager's binding is named <workspace>-<manager>-admin: it must fit in 253 characters.
      const s = await refused(wsUrl, 'POST', JSON.stringify(workspace('w'.repeat(63), {}, { manager: 'm'.repeat(190) })), 422);
      expect(s.message).toMatch(/binding/);
    });

    it('accepts the longest name and manager that fit, and the controller reconciles them', async () => {
      const name = 'w'.repeat(63);
      const manager = 'm'.repeat(253 - 63 - '--admin'.length);
      expect((await t.api(usersUrl, { method: 'POST', json: { metadata: { name: manager } } })).status).toBe(201);
      expect((await t.api(wsUrl, { method: 'POST', json: workspace(name, {}, { manager }) })).status).toBe(201);
      for (const suffix of ['admin', 'regular', 'viewer']) {
        await eventually(async () => (await t.api(`/apis/iam.mortise.io/v1alpha1/workspaceroles/${name}-${suffix}`)).status === 200, 10_000, `role ${suffix}`);
      }
      await eventually(async () => (await t.api(`/apis/iam.mortise.io/v1alpha1/workspacerolebindings/${name}-${manager}-admin`)).status === 200, 10_000, 'the manager binding');
    });
  });
});
