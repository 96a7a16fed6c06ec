import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { eventually, startTestCore, workspace, type TestCore } from './support/test-core.js';
import { causeFields, rawWrites, statusOf } from './support/k8s-helpers.js';

// Keys a client chooses are looked up as own properties only: a field called `constructor`,
// `toString`, `hasOwnProperty` or `__proto__` is an unknown field like any other (refused,
// pruned or warned about), is stored as plain data where a schema keeps unknown fields, and
// never reaches an object's prototype — in every schema walk, patch type, selector and column.

const protoNames = ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf', 'isPrototypeOf'];
const wsUrl = '/apis/tenant.mortise.io/v1alpha1/workspaces';
const rolesUrl = '/apis/iam.mortise.io/v1alpha1/namespaces/proto-ns/roles';
const widgetsUrl = '/apis/proto.example.com/v1/namespaces/proto-ns/widgets';

/** JSON text of an object with `key` as an own property (an object literal's `__proto__` would not be). */
const withKey = (obj: Record<string, unknown>, path: string[], key: string, value: unknown): string => {
  const copy = structuredClone(obj);
  let cur = copy;
  for (const p of path) cur = (cur[p] ??= {}) as Record<string, unknown>;
  Object.defineProperty(cur, key, { value, enumerable: true, writable: true, configurable: true });
  return JSON.stringify(copy);
};

describe('prototype names as keys', () => {
  let t: TestCore;
  const { send, refused } = rawWrites(() => t);
  const fields = causeFields;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'proto-ns' } } })).status).toBe(201);
    expect((await t.api(wsUrl, { method: 'POST', json: workspace('proto', {}, { manager: 'admin' }) })).status).toBe(201);
    expect((await t.api(rolesUrl, { method: 'POST', json: { metadata: { name: 'r' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] } })).status).toBe(201);
    const crd = await t.api('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      method: 'POST',
      json: {
        metadata: { name: 'widgets.proto.example.com' },
        spec: {
          group: 'proto.example.com', scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [{
            name: 'v1', served: true, storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' }, free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } } },
            additionalPrinterColumns: [{ name: 'Ctor', type: 'string', jsonPath: '.spec.constructor' }, { name: 'FreeCtor', type: 'string', jsonPath: '.spec.free.constructor' }],
          }],
        },
      },
    });
    expect(crd.status).toBe(201);
    await eventually(async () => (await t.api(widgetsUrl)).status === 200, 10_000, 'the Widget kind to be served');
    expect((await t.api(widgetsUrl, { method: 'POST', json: { metadata: { name: 'w' }, spec: { size: 1, free: {} } } })).status).toBe(201);
  }, 30_000);
  afterAll(async () => t?.close());

  it('are unknown fields at the top level, in spec, in list items and in metadata, on create and update, JSON and YAML', async () => {
    const ws = workspace('proto-new', {}, { manager: 'admin' });
    const current = await (await t.api(`${wsUrl}/proto`)).json() as Record<string, unknown>;
    for (const name of protoNames) {
      for (const [path, method, base] of [[wsUrl, 'POST', ws], [`${wsUrl}/proto`, 'PUT', current]] as const) {
        expect(fields(await refused(path, method, withKey(base, [], name, 1), 422))).toEqual([name]);
        expect(fields(await refused(path, method, withKey(base, ['spec'], name, 'x'), 422))).toEqual([`spec.${name}`]);
        expect(fields(await refused(path, method, withKey(base, ['spec', 'quota'], name, {}), 422))).toEqual([`spec.quota.${name}`]);
        expect(fields(await refused(path, method, withKey(base, ['metadata'], name, 'x'), 422))).toEqual([`metadata.${name}`]);
        // YAML keeps the key as data too.
        const yaml = toYaml(JSON.parse(withKey(base, ['spec'], name, 'x')));
        expect(fields(await refused(path, method, yaml, 422, 'application/yaml'))).toEqual([`spec.${name}`]);
      }
      const role = { metadata: { name: 'r2' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] };
      const body = JSON.parse(JSON.stringify(role)) as { rules: Array<Record<string, unknown>> };
      Object.defineProperty(body.rules[0]!, name, { value: ['x'], enumerable: true });
      expect(fields(await refused(rolesUrl, 'POST', JSON.stringify(body), 422))).toEqual([`rules[0].${name}`]);
    }
  });

  it('are unknown fields through merge, strategic merge and JSON patches', async () => {
    for (const name of protoNames) {
      for (const ct of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
        expect(fields(await refused(`${wsUrl}/proto`, 'PATCH', withKey({}, ['spec'], name, 'x'), 422, ct))).toEqual([`spec.${name}`]);
        expect(fields(await refused(`${wsUrl}/proto`, 'PATCH', withKey({}, [], name, { spec: { manager: 'evil' } }), 422, ct))).toEqual([name]);
      }
      const s = await refused(`${wsUrl}/proto`, 'PATCH', JSON.stringify([{ op: 'add', path: `/spec/${name}`, value: 'x' }]), 422, 'application/json-patch+json');
      // `__proto__` is refused by the patch itself; the others are unknown fields.
      if (name !== '__proto__') expect(fields(s)).toEqual([`spec.${name}`]);
    }
    const ws = await (await t.api(`${wsUrl}/proto`)).json() as { spec: Record<string, unknown> };
    expect(ws.spec).toEqual({ manager: 'admin' });
  });

  it('are pruned with fieldValidation=Ignore and warned about with Warn, and never stored', async () => {
    for (const [mode, name] of [['Ignore', 'constructor'], ['Warn', 'toString'], ['Ignore', '__proto__'], ['Warn', 'hasOwnProperty']] as const) {
      const body = withKey(withKeyObj(workspace(`proto-${mode.toLowerCase()}-${protoNames.indexOf(name)}`, {}, { manager: 'admin' }), ['spec'], name, 'x'), [], name, 1);
      const res = await send(`${wsUrl}?fieldValidation=${mode}`, 'POST', body);
      expect(res.status).toBe(201);
      if (mode === 'Warn') expect(res.headers.get('warning')).toContain(`unknown field \\"spec.${name}\\"`);
      const created = await res.json() as Record<string, unknown> & { spec: Record<string, unknown> };
      expect(Object.hasOwn(created, name)).toBe(false);
      expect(Object.hasOwn(created.spec, name)).toBe(false);
      const read = JSON.parse(await (await t.api(`${wsUrl}/${(created.metadata as { name: string }).name}`)).text()) as Record<string, unknown> & { spec: Record<string, unknown> };
      expect(Object.keys(read.spec)).toEqual(['manager']);
      expect(Object.hasOwn(read, name)).toBe(false);
    }
  });

  it('are stored as plain data where the schema keeps unknown fields, through every patch type, without touching any prototype', async () => {
    const free = (name: string) => withKey({}, ['spec', 'free'], name, { polluted: name });
    for (const name of protoNames) {
      for (const ct of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
        expect((await send(`${widgetsUrl}/w`, 'PATCH', free(name), ct)).status).toBe(200);
      }
    }
    expect((await send(`${widgetsUrl}/w`, 'PATCH', JSON.stringify([{ op: 'add', path: '/spec/free/valueOf/more', value: 1 }]), 'application/json-patch+json')).status).toBe(200);
    const text = await (await t.api(`${widgetsUrl}/w`)).text();
    const stored = JSON.parse(text) as { spec: { free: Record<string, unknown> } };
    expect(Object.keys(stored.spec.free).sort()).toEqual([...protoNames].sort());
    for (const name of protoNames) expect(Object.getOwnPropertyDescriptor(stored.spec.free, name)?.value).toMatchObject({ polluted: name });
    // Nothing in this process (where the core runs) gained a property.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    // An object whose keys are prototype names can be written back as read.
    expect((await send(`${widgetsUrl}/w`, 'PUT', text)).status).toBe(200);
    // Replacing or removing what is not there fails, whatever every object inherits.
    for (const name of protoNames.filter((n) => n !== '__proto__')) {
      for (const op of [{ op: 'remove', path: `/spec/${name}` }, { op: 'replace', path: `/spec/${name}`, value: 1 }, { op: 'test', path: `/spec/${name}`, value: {} }, { op: 'add', path: `/spec/${name}/x`, value: 1 }, { op: 'copy', from: `/spec/${name}`, path: '/spec/free/copied' }]) {
        await refused(`${widgetsUrl}/w`, 'PATCH', JSON.stringify([op]), 422, 'application/json-patch+json');
      }
    }
  });

  it('JSON patches that would throw inside the patch library are 422: a path through __proto__, a move into its own child, an unknown op', async () => {
    for (const ops of [
      [{ op: 'add', path: '/__proto__/polluted', value: 1 }],
      [{ op: 'add', path: '/spec/__proto__/polluted', value: 1 }],
      [{ op: 'replace', path: '/metadata/__proto__', value: {} }],
      [{ op: 'add', path: '/constructor/prototype/polluted', value: 1 }],
      [{ op: 'move', from: '/spec', path: '/spec/free/inner' }],
      [{ op: 'copy', from: '/spec/free/__proto__', path: '/spec/x' }],
      [{ op: 'constructor', path: '/spec' }],
      [{ op: 'toString', path: '/spec' }],
      [{ op: 'test', path: '/spec/free', value: withKeyObj({}, [], 'hasOwnProperty', 1) }],
    ]) {
      const s = await refused(`${widgetsUrl}/w`, 'PATCH', JSON.stringify(ops), 422, 'application/json-patch+json');
      expect(s.message).toMatch(/JSON patch/);
    }
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('label selectors find only labels an object has; field selectors refuse fields named like prototype members', async () => {
    expect((await t.api(`${wsUrl}/proto`, { method: 'PATCH', body: JSON.stringify({ metadata: { labels: { constructor: 'yes' } } }), headers: { 'content-type': 'application/merge-patch+json' } })).status).toBe(200);
    const names = async (q: string) => ((await (await t.api(`${wsUrl}?${q}`)).json()) as { items: Array<{ metadata: { name: string } }> }).items.map((i) => i.metadata.name);
    expect(await names('labelSelector=constructor%3Dyes')).toEqual(['proto']);
    expect(await names('labelSelector=constructor')).toEqual(['proto']);
    expect(await names('labelSelector=toString')).toEqual([]);
    expect(await names('labelSelector=hasOwnProperty%21%3Dx')).toContain('proto');
    expect((await names('labelSelector=%21valueOf')).length).toBeGreaterThan(0);
    for (const name of protoNames.filter((n) => n !== '__proto__')) {
      const s = await statusOf(await t.api(`${wsUrl}?fieldSelector=${name}%3Dx`), 400);
      expect(s.message).toContain(`field label not supported: ${name}`);
      await statusOf(await t.api(`${wsUrl}?watch=1&fieldSelector=${name}%3Dx`), 400);
    }
    // A label key that is not a qualified name is refused, `__proto__` included.
    await statusOf(await t.api(`${wsUrl}?labelSelector=__proto__`), 400);
    await refused(wsUrl, 'POST', withKey(workspace('proto-lbl'), ['metadata', 'labels'], '__proto__', 'x'), 422);
  });

  it('table columns read only fields the object has', async () => {
    const res = await t.api(widgetsUrl, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    const table = await res.json() as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    const ctor = table.columnDefinitions.findIndex((c) => c.name === 'Ctor');
    const freeCtor = table.columnDefinitions.findIndex((c) => c.name === 'FreeCtor');
    expect(table.rows[0]!.cells[ctor]).toBe('');
    expect(table.rows[0]!.cells[freeCtor]).toBe(JSON.stringify({ polluted: 'constructor' }));
  });
});

function withKeyObj(obj: Record<string, unknown>, path: string[], key: string, value: unknown): Record<string, unknown> {
  return JSON.parse(withKey(obj, path, key, value)) as Record<string, unknown>;
}
