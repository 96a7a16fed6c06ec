import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';
import { apiFailure, mergePatch, settle, statusOf, type StatusBody } from './support/k8s-helpers.js';

// Server-side apply through a real core: raw HTTP (the exact Status bodies), the real kubectl
// (`apply --server-side`, conflicts between field managers, --force-conflicts, client-side
// apply beside it) and @kubernetes/client-node with the apply-patch content type.

const group = 'ssa.mortise.io';
const gadgets = `/apis/${group}/v1/namespaces/default/gadgets`;

const gadgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: `gadgets.${group}` },
  spec: {
    group, scope: 'Namespaced', names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
    versions: [{
      name: 'v1', served: true, storage: true, subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              properties: {
                size: { type: 'integer' },
                color: { type: 'string' },
                args: { type: 'array', items: { type: 'string' } },
                tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
                ports: {
                  type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'],
                  items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, port: { type: 'integer' } } },
                },
              },
            },
            status: { type: 'object', properties: { phase: { type: 'string' } } },
          },
        },
      },
    }],
  },
};

type Entry = { manager: string; operation: string; apiVersion: string; time: string; fieldsType: string; fieldsV1: Record<string, unknown>; subresource?: string };
type Obj = { apiVersion: string; kind: string; metadata: { name: string; resourceVersion: string; managedFields?: Entry[]; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown>; status?: Record<string, unknown>; data?: Record<string, string> };

const gadgetYaml = (name: string, spec: string) => `apiVersion: ${group}/v1
kind: Gadget
metadata:
  name: ${name}
spec:
${spec.trim().split('\n').map((l) => `  ${l}`).join('\n')}
`;

/** Who owns fields, as [manager, operation] sorted by manager. The list itself must be in
 *  kube-apiserver's order: operation, then the second the entry was written, then manager. That
 *  order depends on the clock (two applies either side of a second boundary swap), so it is
 *  checked here and the names are compared sorted. */
const owners = (o: Obj) => {
  const list = o.metadata.managedFields ?? [];
  // That order as one string per entry (the seconds padded: they compare as text).
  const keys = list.map((e) => `${e.operation}\u0000${String(Math.floor(Date.parse(e.time) / 1000)).padStart(12, '0')}\u0000${e.manager}`);
  expect(keys, `managedFields out of order: ${JSON.stringify(list.map((e) => [e.manager, e.operation, e.time]))}`).toEqual([...keys].sort());
  return list.map((e) => [e.manager, e.operation]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
};
const fieldsOf = (o: Obj, manager: string) => o.metadata.managedFields?.find((e) => e.manager === manager)?.fieldsV1;

describe('server-side apply', () => {
  let t: TestCore;
  let dir: string;

  const apply = (path: string, body: string, query: string, headers: Record<string, string> = {}) =>
    t.api(`${path}${query ? `?${query}` : ''}`, { method: 'PATCH', body, headers: { 'content-type': 'application/apply-patch+yaml', ...headers } });
  const applied = async (path: string, body: string, query: string, code = 200): Promise<Obj> => {
    const res = await apply(path, body, query);
    const text = await res.text();
    expect({ status: res.status, text }).toMatchObject({ status: code });
    return JSON.parse(text) as Obj;
  };
  const get = async (path: string) => (await (await t.api(path)).json()) as Obj;

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    dir = mkdtempSync(join(tmpdir(), 'mortise-ssa-'));
    const res = await t.api('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { method: 'POST', json: gadgetCrd });
    expect(res.status).toBe(201);
    await eventually(async () => (await t.api(gadgets)).status === 200, 15_000, 'the Gadget kind to be served');
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('the API', () => {
    it('an apply creates a missing object (201) and records an Apply entry in managedFields', async () => {
      const o = await applied(`${gadgets}/one`, gadgetYaml('one', 'size: 1\ncolor: red\nports:\n- name: http\n  port: 80'), 'fieldManager=alice', 201);
      expect(o.spec).toEqual({ size: 1, color: 'red', ports: [{ name: 'http', port: 80 }] });
      expect(o.metadata.managedFields).toHaveLength(1);
      const [e] = o.metadata.managedFields!;
      expect(e).toEqual({
        manager: 'alice', operation: 'Apply', apiVersion: `${group}/v1`, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:color': {}, 'f:ports': { 'k:{"name":"http"}': { '.': {}, 'f:name': {}, 'f:port': {} } }, 'f:size': {} } },
      });
      // Stored as returned: a GET shows the same managedFields.
      expect((await get(`${gadgets}/one`)).metadata.managedFields).toEqual(o.metadata.managedFields);
    });

    it('an apply needs a field manager, and `force` belongs to apply only (422 PatchOptions, as kube-apiserver)', async () => {
      const missing = await statusOf(await apply(`${gadgets}/one`, gadgetYaml('one', 'size: 2'), ''), 422);
      expect(missing).toMatchObject({
        reason: 'Invalid', message: 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        details: { group: 'meta.k8s.io', kind: 'PatchOptions', causes: [{ reason: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' }] },
      });
      const long = await statusOf(await apply(`${gadgets}/one`, gadgetYaml('one', 'size: 2'), `fieldManager=${'m'.repeat(129)}`), 422);
      expect(long.details?.causes?.[0]).toMatchObject({ field: 'fieldManager', reason: 'FieldValueTooLong' });
      const forced = await statusOf(await t.api(`${gadgets}/one?force=true`, { method: 'PATCH', body: '{"spec":{"size":2}}', headers: { 'content-type': 'application/merge-patch+json' } }), 422);
      expect(forced.message).toBe('PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch');
      await statusOf(await apply(`${gadgets}/one`, gadgetYaml('one', 'size: 2'), 'fieldManager=alice&force=maybe'), 400);
      const managed = await statusOf(await apply(`${gadgets}/one`, `apiVersion: ${group}/v1\nkind: Gadget\nmetadata:\n  name: one\n  managedFields: []\n`, 'fieldManager=alice'), 400);
      expect(managed.message).toMatch(/managedFields must be nil/);
      await statusOf(await apply(`${gadgets}/one`, 'spec:\n  size: 2\n', 'fieldManager=alice'), 400);
      expect((await get(`${gadgets}/one`)).spec?.size).toBe(1);
    });

    it('changing a field another manager owns is a 409 naming each field and its manager; nothing is written', async () => {
      const before = await get(`${gadgets}/one`);
      const res = await apply(`${gadgets}/one`, gadgetYaml('one', 'size: 5\ncolor: blue'), 'fieldManager=bob');
      const s = await statusOf(res, 409);
      expect(s).toEqual({
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Conflict', code: 409,
        message: 'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.color\n- .spec.size',
        details: { causes: [
          { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.color' },
          { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.size' },
        ] },
      });
      expect((await get(`${gadgets}/one`)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      // The same value is no conflict: the field is shared.
      const shared = await applied(`${gadgets}/one`, gadgetYaml('one', 'size: 1'), 'fieldManager=bob');
      expect(owners(shared)).toEqual([['alice', 'Apply'], ['bob', 'Apply']]);
      expect(fieldsOf(shared, 'bob')).toEqual({ 'f:spec': { 'f:size': {} } });
    });

    it('force=true takes the fields; the old manager keeps the rest', async () => {
      const o = await applied(`${gadgets}/one`, gadgetYaml('one', 'size: 7'), 'fieldManager=carol&force=true');
      expect(o.spec?.size).toBe(7);
      expect(fieldsOf(o, 'carol')).toEqual({ 'f:spec': { 'f:size': {} } });
      expect(fieldsOf(o, 'alice')).toEqual({ 'f:spec': { 'f:color': {}, 'f:ports': { 'k:{"name":"http"}': { '.': {}, 'f:name': {}, 'f:port': {} } } } });
      expect(fieldsOf(o, 'bob')).toBeUndefined();
    });

    it('what an applier stops applying is removed unless another manager owns it; list items merge by key', async () => {
      const two = await applied(`${gadgets}/one`, gadgetYaml('one', 'ports:\n- name: admin\n  port: 9000'), 'fieldManager=dave');
      expect(two.spec?.ports).toEqual([{ name: 'http', port: 80 }, { name: 'admin', port: 9000 }]);
      // alice drops color and the http port: both go (nobody else owns them).
      const o = await applied(`${gadgets}/one`, gadgetYaml('one', 'tags: [a]'), 'fieldManager=alice');
      expect(o.spec).toEqual({ size: 7, ports: [{ name: 'admin', port: 9000 }], tags: ['a'] });
    });

    it('an apply that changes nothing writes nothing; dry run writes nothing; JSON is YAML', async () => {
      const before = await get(`${gadgets}/one`);
      const same = await applied(`${gadgets}/one`, gadgetYaml('one', 'tags: [a]'), 'fieldManager=alice');
      expect(same.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      const dry = await applied(`${gadgets}/one`, JSON.stringify({ apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'one' }, spec: { tags: ['a', 'b'] } }), 'fieldManager=alice&dryRun=All');
      expect(dry.spec?.tags).toEqual(['a', 'b']);
      expect((await get(`${gadgets}/one`)).spec?.tags).toEqual(['a']);
      expect((await get(`${gadgets}/one`)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    });

    it('status is applied through /status only, with its own entry', async () => {
      const main = await applied(`${gadgets}/one`, `${gadgetYaml('one', 'tags: [a]')}status:\n  phase: Ignored\n`, 'fieldManager=alice');
      expect(main.status).toBeUndefined();
      const s = await applied(`${gadgets}/one/status`, `apiVersion: ${group}/v1\nkind: Gadget\nmetadata:\n  name: one\nstatus:\n  phase: Ready\n`, 'fieldManager=status-writer');
      expect(s.status).toEqual({ phase: 'Ready' });
      expect(s.metadata.managedFields?.find((e) => e.manager === 'status-writer')).toMatchObject({ operation: 'Apply', subresource: 'status', fieldsV1: { 'f:status': { 'f:phase': {} } } });
    });

    it('ordinary writes are Update entries: fieldManager, or the user agent up to "/"', async () => {
      const res = await t.api(`${gadgets}?fieldManager=creator`, { method: 'POST', json: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'plain', labels: { a: 'b' } }, spec: { size: 1 } } });
      const created = (await res.json()) as Obj;
      expect(created.metadata.managedFields).toEqual([{
        manager: 'creator', operation: 'Update', apiVersion: `${group}/v1`, time: expect.any(String), fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } }, 'f:spec': { '.': {}, 'f:size': {} } },
      }]);
      const patched = (await (await t.api(`${gadgets}/plain`, { method: 'PATCH', body: '{"spec":{"color":"red"}}', headers: { 'content-type': 'application/merge-patch+json', 'user-agent': 'my-tool/1.2 (linux)' } })).json()) as Obj;
      expect(owners(patched)).toEqual([['creator', 'Update'], ['my-tool', 'Update']]);
      expect(fieldsOf(patched, 'my-tool')).toEqual({ 'f:spec': { 'f:color': {} } });
      // An Update taking a field from an applier: the applier loses it, no conflict (updates force).
      await applied(`${gadgets}/plain`, gadgetYaml('plain', 'size: 2'), 'fieldManager=alice&force=true');
      const put = await get(`${gadgets}/plain`);
      put.spec!.size = 3;
      const replaced = (await (await t.api(`${gadgets}/plain?fieldManager=editor`, { method: 'PUT', json: put })).json()) as Obj;
      expect(fieldsOf(replaced, 'alice')).toBeUndefined();
      expect(fieldsOf(replaced, 'editor')).toEqual({ 'f:spec': { 'f:size': {} } });
      // managedFields: [{}] clears them all (how Kubernetes users reset ownership).
      const reset = (await (await t.api(`${gadgets}/plain`, { method: 'PATCH', body: '{"metadata":{"managedFields":[{}]}}', headers: { 'content-type': 'application/merge-patch+json' } })).json()) as Obj;
      expect(reset.metadata.managedFields).toBeUndefined();
    });

    it('a configuration naming a map-list item twice is refused (422), as is a wrong kind (400)', async () => {
      const dup = await statusOf(await apply(`${gadgets}/one`, gadgetYaml('one', 'ports:\n- name: a\n- name: a'), 'fieldManager=alice'), 422);
      expect(dup.message).toMatch(/duplicate entries for key \.spec\.ports\[name="a"\]/);
      await statusOf(await apply(`${gadgets}/one`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n', 'fieldManager=alice'), 400);
      const unknown = await statusOf(await apply(`${gadgets}/one`, gadgetYaml('one', 'nope: 1'), 'fieldManager=alice'), 422);
      expect(unknown.message).toMatch(/unknown field "spec.nope"/);
    });

    it('applying a User: the password is hashed and never returned, not even its field name in managedFields', async () => {
      const password = 'applied-password-1';
      const yaml = `apiVersion: iam.mortise.io/v1alpha1\nkind: User\nmetadata:\n  name: ssa-user\nspec:\n  email: ssa@example.com\n  password: ${password}\n`;
      const res = await apply('/apis/iam.mortise.io/v1alpha1/users/ssa-user', yaml, 'fieldManager=gitops');
      const text = await res.text();
      expect(res.status).toBe(201);
      expect(text).not.toContain(password);
      expect(text).not.toContain('$scrypt');
      const u = JSON.parse(text) as Obj;
      expect(u.spec).toEqual({ email: 'ssa@example.com' });
      expect(fieldsOf(u, 'gitops')).toEqual({ 'f:spec': { 'f:email': {} } });
      await login(t.url, 'ssa-user', password);
      // Applied again (kubectl sends the password every time): still the same password.
      const again = await apply('/apis/iam.mortise.io/v1alpha1/users/ssa-user', yaml.replace('ssa@example.com', 'ssa2@example.com'), 'fieldManager=gitops');
      expect(again.status).toBe(200);
      expect(await again.text()).not.toContain(password);
      await login(t.url, 'ssa-user', password);
    });

    it('an apply that would create is authorized as a create too (403 with patch alone), as kube-apiserver', async () => {
      const iam = '/apis/iam.mortise.io/v1alpha1';
      const password = 'patcher-password-1';
      expect((await t.api(`${iam}/users`, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: 'patcher' }, spec: { email: 'p@example.com', password } } })).status).toBe(201);
      expect((await t.api(`${iam}/globalroles`, { method: 'POST', json: { metadata: { name: 'gadget-patcher' }, rules: [{ apiGroups: [group], resources: ['gadgets'], verbs: ['get', 'patch'] }] } })).status).toBe(201);
      expect((await t.api(`${iam}/globalrolebindings`, { method: 'POST', json: { metadata: { name: 'gadget-patcher' }, roleRef: { kind: 'GlobalRole', name: 'gadget-patcher' }, subjects: [{ kind: 'User', name: 'patcher' }] } })).status).toBe(201);
      const token = await login(t.url, 'patcher', password);
      const asPatcher = (name: string, spec: string) => call(t.url, token, `${gadgets}/${name}?fieldManager=patcher`, { method: 'PATCH', body: gadgetYaml(name, spec), headers: { 'content-type': 'application/apply-patch+yaml' } });
      await eventually(async () => (await asPatcher('one', 'color: violet')).status === 200, 10_000, 'the patch grant');
      const refused = await statusOf(await asPatcher('patcher-new', 'size: 1'), 403);
      expect(refused.message).toMatch(/^patcher cannot create/);
      expect((await t.api(`${gadgets}/patcher-new`)).status).toBe(404);
    });

    it('the core\'s own writers (controllers) are the manager mortise-core', async () => {
      const res = await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: { apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace', metadata: { name: 'ssa-ws' }, spec: { manager: 'admin' } } });
      expect(res.status).toBe(201);
      await settle(t.core.store);
      const ws = await get('/apis/tenant.mortise.io/v1alpha1/workspaces/ssa-ws');
      // The creator (fetch's user agent "node") owns spec; the workspace controller, writing status, owns that.
      expect(ws.metadata.managedFields?.map((e) => [e.manager, e.operation, e.subresource, Object.keys(e.fieldsV1)])).toEqual(expect.arrayContaining([
        ['node', 'Update', undefined, ['f:spec']],
        ['mortise-core', 'Update', 'status', ['f:status']],
      ]));
    });
  });

  describe('kubectl', () => {
    let common: string[];
    const kubectl = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        execFile('kubectl', [...common, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error('kubectl is not on PATH: install kubernetes-client to run these tests'));
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
        });
      });
    const ok = async (args: string[]) => {
      const r = await kubectl(args);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };

    beforeAll(() => {
      common = ['--kubeconfig', t.kubeconfigPath, '--request-timeout=20s', '--cache-dir', join(dir, 'cache'), '-n', 'default'];
    });

    it('kubectl apply --server-side creates and updates; get -o yaml hides managedFields unless asked', async () => {
      const f = file('k1.yaml', gadgetYaml('kube-one', 'size: 1\ncolor: green\nports:\n- name: http\n  port: 80'));
      expect(await ok(['apply', '--server-side', '-f', f])).toContain('gadget.ssa.mortise.io/kube-one serverside-applied');
      const o = await get(`${gadgets}/kube-one`);
      expect(owners(o)).toEqual([['kubectl', 'Apply']]);
      writeFileSync(f, gadgetYaml('kube-one', 'size: 2\ncolor: green\nports:\n- name: http\n  port: 80'));
      expect(await ok(['apply', '--server-side', '-f', f])).toContain('serverside-applied');
      expect((await get(`${gadgets}/kube-one`)).spec?.size).toBe(2);
      const plain = await ok(['get', 'gadget', 'kube-one', '-o', 'yaml']);
      expect(plain).toMatch(/size: 2/);
      expect(plain).not.toContain('managedFields');
      const shown = await ok(['get', 'gadget', 'kube-one', '-o', 'yaml', '--show-managed-fields']);
      expect(shown).toMatch(/managedFields:\n\s+- apiVersion: ssa\.mortise\.io\/v1\n\s+fieldsType: FieldsV1/);
      expect(shown).toMatch(/manager: kubectl\n\s+operation: Apply/);
    });

    it('a second field manager conflicts; --force-conflicts takes the field', async () => {
      const f = file('k2.yaml', gadgetYaml('kube-one', 'size: 3'));
      const r = await kubectl(['apply', '--server-side', '--field-manager=ops', '-f', f]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Apply failed with 1 conflict: conflict with "kubectl": .spec.size');
      expect(r.stderr).toContain('--force-conflicts');
      expect((await get(`${gadgets}/kube-one`)).spec?.size).toBe(2);
      expect(await ok(['apply', '--server-side', '--field-manager=ops', '--force-conflicts', '-f', f])).toContain('serverside-applied');
      const o = await get(`${gadgets}/kube-one`);
      expect(o.spec?.size).toBe(3);
      expect(fieldsOf(o, 'ops')).toEqual({ 'f:spec': { 'f:size': {} } });
      expect(JSON.stringify(fieldsOf(o, 'kubectl'))).not.toContain('f:size');
      // kubectl's own manager re-applying its (old) size now conflicts with ops.
      const back = await kubectl(['apply', '--server-side', '-f', join(dir, 'k1.yaml')]);
      expect(back.stderr).toContain('conflict with "ops": .spec.size');
    });

    it('client-side kubectl apply still works, and an object it made can move to --server-side', async () => {
      const f = file('k3.yaml', gadgetYaml('kube-csa', 'size: 1\ncolor: blue'));
      expect(await ok(['apply', '-f', f])).toContain('gadget.ssa.mortise.io/kube-csa created');
      writeFileSync(f, gadgetYaml('kube-csa', 'size: 2\ncolor: blue'));
      expect(await ok(['apply', '-f', f])).toContain('gadget.ssa.mortise.io/kube-csa configured');
      const csa = await get(`${gadgets}/kube-csa`);
      expect(csa.spec?.size).toBe(2);
      expect(owners(csa)).toEqual([['kubectl-client-side-apply', 'Update']]);
      // kubectl migrates the client-side manager's fields to its apply entry (a JSON patch of managedFields).
      writeFileSync(f, gadgetYaml('kube-csa', 'size: 4'));
      expect(await ok(['apply', '--server-side', '-f', f])).toContain('serverside-applied');
      const ssa = await get(`${gadgets}/kube-csa`);
      expect(ssa.spec?.size).toBe(4);
      // kubectl keeps the annotation as its own manager "kubectl-last-applied" (as against a kube-apiserver).
      expect(owners(ssa)).toEqual([['kubectl', 'Apply'], ['kubectl-last-applied', 'Apply']]);
      // The annotation follows what was applied, so client-side apply can come back.
      expect(JSON.parse(ssa.metadata.annotations!['kubectl.kubernetes.io/last-applied-configuration']!).spec).toEqual({ size: 4 });
      // kubectl moved the client-side fields (color too) to its apply entry and applied again:
      // color, no longer in the manifest, is gone, as it would be with client-side apply.
      expect(ssa.spec).toEqual({ size: 4 });
      expect(await ok(['apply', '--server-side', '-f', f])).toContain('serverside-applied');
      expect((await get(`${gadgets}/kube-csa`)).spec).toEqual({ size: 4 });
    });

    it('kubectl apply --server-side --dry-run=server changes nothing', async () => {
      const f = file('k4.yaml', gadgetYaml('kube-one', 'size: 9'));
      const before = await get(`${gadgets}/kube-one`);
      await ok(['apply', '--server-side', '--field-manager=ops', '--dry-run=server', '-f', f]);
      expect((await get(`${gadgets}/kube-one`)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    });
  });

  describe('@kubernetes/client-node', () => {
    const applyPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);

    it('patchNamespacedConfigMap with the apply-patch content type creates, merges and conflicts', async () => {
      const core = t.kubeConfig.makeApiClient(k8s.CoreV1Api);
      const cm = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa-cm', namespace: 'default' }, data });
      const created = await core.patchNamespacedConfigMap({ name: 'ssa-cm', namespace: 'default', body: cm({ a: '1' }), fieldManager: 'app-a' }, applyPatch);
      expect(created.data).toEqual({ a: '1' });
      expect(created.metadata?.managedFields?.[0]).toMatchObject({ manager: 'app-a', operation: 'Apply', fieldsV1: { 'f:data': { 'f:a': {} } } });
      const both = await core.patchNamespacedConfigMap({ name: 'ssa-cm', namespace: 'default', body: cm({ b: '2' }), fieldManager: 'app-b' }, applyPatch);
      expect(both.data).toEqual({ a: '1', b: '2' });
      const s: StatusBody = await apiFailure(core.patchNamespacedConfigMap({ name: 'ssa-cm', namespace: 'default', body: cm({ a: 'x' }), fieldManager: 'app-b' }, applyPatch), 409);
      expect(s.details?.causes).toEqual([{ reason: 'FieldManagerConflict', message: 'conflict with "app-a"', field: '.data.a' }]);
      const forced = await core.patchNamespacedConfigMap({ name: 'ssa-cm', namespace: 'default', body: cm({ a: 'x' }), fieldManager: 'app-b', force: true }, applyPatch);
      // app-b no longer applies b: it is removed; a is app-b's now.
      expect(forced.data).toEqual({ a: 'x' });
      expect(forced.metadata?.managedFields?.map((e) => e.manager)).toEqual(['app-b']);
      // An ordinary merge patch beside it is an Update entry.
      const merged = await core.patchNamespacedConfigMap({ name: 'ssa-cm', namespace: 'default', body: { data: { c: '3' } }, fieldManager: 'patcher' }, mergePatch);
      expect(merged.metadata?.managedFields?.map((e) => [e.manager, e.operation])).toEqual([['app-b', 'Apply'], ['patcher', 'Update']]);
    });

    it('patchNamespacedCustomObject applies a custom resource', async () => {
      const objects = t.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
      const body = { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'node-one' }, spec: { tags: ['x', 'y'] } };
      const o = (await objects.patchNamespacedCustomObject({ group, version: 'v1', namespace: 'default', plural: 'gadgets', name: 'node-one', body, fieldManager: 'node-app' }, applyPatch)) as Obj;
      expect(o.spec).toEqual({ tags: ['x', 'y'] });
      expect(fieldsOf(o, 'node-app')).toEqual({ 'f:spec': { 'f:tags': { 'v:"x"': {}, 'v:"y"': {} } } });
    });
  });
});
