import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../src/extensions/bundled-repository.js';
import { createLogger } from '../src/ops/logger.js';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';
type Template = { metadata: { name: string; labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string }> }; spec: { displayName: unknown; dependsOn?: string[]; rules: unknown[] } };
type Plan = { status?: { state?: string; message?: string; installedVersion?: string } };

const crd = (plural: string, kind: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ${plural}.library.example}
spec:
  group: library.example
  scope: Namespaced
  names: {plural: ${plural}, singular: ${kind.toLowerCase()}, kind: ${kind}}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`;

/** An extension with no backend: a CRD of its own, permissions and role templates. */
function source(root: string, name: string, version: string, body: { crd: string; permissions?: string; roleTemplates: string }): void {
  const dir = join(root, `${name}-${version}`);
  mkdirSync(join(dir, 'crds'), { recursive: true });
  writeFileSync(join(dir, 'crds', 'crd.yaml'), body.crd);
  writeFileSync(join(dir, 'extension.yaml'), `apiVersion: mortise.io/v1alpha1
kind: Extension
name: ${name}
version: ${version}
displayName: ${name}
description: role templates under test
category: examples
provider: {name: Tester}
license: MIT
engines: {mortise: ">=0.1.0"}
resources: [crds/crd.yaml]
${body.permissions ?? ''}
roleTemplates:
${body.roleTemplates}`);
}

describe('RoleTemplates brought by an extension', () => {
  let t: TestCore;
  let bob = '';
  const work = mkdtempSync(join(tmpdir(), 'mortise-role-templates-'));
  const templates = async (extension: string) =>
    ((await (await t.api(`${iam}/roletemplates?labelSelector=extensions.mortise.io/extension=${extension}`)).json()) as { items: Template[] }).items;
  const plan = async (name: string) => (await (await t.api(`${ext}/installplans/${name}`)).json()) as Plan;
  const install = async (name: string, version: string) => {
    const existing = await t.api(`${ext}/installplans/${name}`);
    const res = existing.status === 404
      ? await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name }, spec: { extension: { name, version }, enabled: true } } })
      : await t.api(`${ext}/installplans/${name}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { extension: { name, version } } } });
    expect(res.status).toBeLessThan(300);
  };
  const settled = (name: string, state: string, version?: string) => eventually(async () => {
    const p = await plan(name);
    return p.status?.state === state && (!version || p.status.installedVersion === version) ? p : undefined;
  }, 20_000, `${name} ${state}`);

  beforeAll(async () => {
    const src = join(work, 'src');
    source(src, 'books', '1.0.0', {
      crd: crd('books', 'Book'),
      permissions: 'permissions: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]',
      roleTemplates: `  - {name: reader, displayName: {en: Read books, zh: 阅读图书}, rules: [{apiGroups: [library.example], resources: [books], verbs: [get, list, watch]}]}
  - {name: editor, displayName: Edit books, dependsOn: [reader], rules: [{apiGroups: [library.example], resources: [books], verbs: [create, update, patch, delete]}]}
  - {name: settings, scope: global, displayName: Read the settings it reads, rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}
`,
    });
    source(src, 'books', '2.0.0', {
      crd: crd('books', 'Book'),
      roleTemplates: `  - {name: reader, displayName: Read books and their status, rules: [{apiGroups: [library.example], resources: [books, books/status], verbs: [get, list, watch]}]}
  - {name: admin, scope: workspace, displayName: Everything on books, rules: [{apiGroups: [library.example], resources: [books, books/status], verbs: ["*"]}]}
`,
    });
    // Grants reads of every Secret, which it neither owns nor declared.
    source(src, 'grabby', '1.0.0', {
      crd: crd('pamphlets', 'Pamphlet'),
      roleTemplates: `  - {name: spy, displayName: Read secrets, rules: [{apiGroups: [library.example], resources: [pamphlets], verbs: [get]}, {apiGroups: [""], resources: [secrets], verbs: [get, list]}]}
`,
    });
    // Its CRD shares the group with books, but books are not its own.
    source(src, 'squatter', '1.0.0', {
      crd: crd('leaflets', 'Leaflet'),
      roleTemplates: `  - {name: books, displayName: Edit books, rules: [{apiGroups: [library.example], resources: [leaflets, books], verbs: [update]}]}
`,
    });
    const repoDir = join(work, 'repo');
    await buildBundledRepository([src], repoDir, createLogger({ level: 'silent' }));
    t = await startTestCore();
    await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: 'bob' }, spec: { password: 'bob-password-1' } } });
    bob = await login(t.url, 'bob', 'bob-password-1');
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${repoDir}` } } })).status).toBe(201);
    await eventually(async () => (await t.api(`${ext}/extensionversions/squatter-1.0.0`)).status === 200, 10_000, 'repository synced');
  });
  afterAll(async () => {
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('creates the templates, labelled and owned by the InstallPlan, and lists them with their extension and scope', async () => {
    await install('books', '1.0.0');
    await settled('books', 'Installed', '1.0.0');
    const items = await templates('books');
    expect(items.map((i) => i.metadata.name).sort()).toEqual(['books-editor', 'books-reader', 'books-settings']);
    const reader = items.find((i) => i.metadata.name === 'books-reader')!;
    expect(reader.metadata.labels).toMatchObject({ 'extensions.mortise.io/extension': 'books', 'iam.mortise.io/scope': 'namespace', 'iam.mortise.io/role-template': 'reader' });
    expect(reader.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'InstallPlan', name: 'books' })]);
    expect(reader.spec.displayName).toEqual({ en: 'Read books', zh: '阅读图书' });
    // Dependencies name the full templates, for the role editor to select them too.
    expect(items.find((i) => i.metadata.name === 'books-editor')!.spec).toMatchObject({ dependsOn: ['books-reader'] });
    expect(items.find((i) => i.metadata.name === 'books-settings')!.metadata.labels!['iam.mortise.io/scope']).toBe('global');
    const table = await (await t.api(`${iam}/roletemplates?labelSelector=extensions.mortise.io/extension=books`, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } })).json() as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Extension', 'Scope', 'Display Name', 'Age']);
    expect(table.rows.map((r) => r.cells.slice(0, 3))).toContainEqual(['books-editor', 'books', 'namespace']);
  });

  it('grants what a role aggregating it grants, by name or by label', async () => {
    await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'shelf' } } });
    const books = '/apis/library.example/v1/namespaces/shelf/books';
    expect((await t.api(`${iam}/namespaces/shelf/roles`, { method: 'POST', json: { metadata: { name: 'librarian' }, rules: [], aggregationRoleTemplates: { templateNames: ['books-reader'] } } })).status).toBe(201);
    expect((await t.api(`${iam}/namespaces/shelf/rolebindings`, { method: 'POST', json: { metadata: { name: 'bob-librarian' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'librarian' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'bob' }] } })).status).toBe(201);
    await eventually(async () => (await call(t.url, bob, books)).status === 200, 3000, 'bob reads books');
    expect((await call(t.url, bob, books, { method: 'POST', json: { apiVersion: 'library.example/v1', kind: 'Book', metadata: { name: 'dune' } } })).status).toBe(403);
    // Aggregating the editor template by its labels adds writes.
    await t.api(`${iam}/namespaces/shelf/roles/librarian`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { aggregationRoleTemplates: { templateNames: ['books-reader'], roleSelector: { matchLabels: { 'extensions.mortise.io/extension': 'books', 'iam.mortise.io/role-template': 'editor' } } } } });
    await eventually(async () => (await call(t.url, bob, books, { method: 'POST', json: { apiVersion: 'library.example/v1', kind: 'Book', metadata: { name: 'dune' } } })).status === 201, 3000, 'bob writes books');
  });

  it('the core brings its own templates (no extension label), which grant what they say', async () => {
    const manage = (await (await t.api(`${iam}/roletemplates/core-configmaps-manage`)).json()) as Template;
    expect(manage.metadata.labels).toEqual({ 'iam.mortise.io/scope': 'namespace', 'iam.mortise.io/role-template': 'configmaps-manage' });
    expect(manage.spec).toMatchObject({ displayName: { en: 'Manage ConfigMaps', zh: '管理配置字典' }, dependsOn: ['core-configmaps-view'] });
    const scopes = ((await (await t.api(`${iam}/roletemplates?labelSelector=iam.mortise.io/scope=global`)).json()) as { items: Template[] }).items.map((i) => i.metadata.name);
    expect(scopes).toEqual(expect.arrayContaining(['core-users-view', 'core-users-manage', 'core-extensions-manage']));
    await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'settings' } } });
    expect((await t.api(`${iam}/namespaces/settings/roles`, { method: 'POST', json: { metadata: { name: 'configurer' }, rules: [], aggregationRoleTemplates: { templateNames: ['core-configmaps-view', 'core-configmaps-manage'] } } })).status).toBe(201);
    expect((await t.api(`${iam}/namespaces/settings/rolebindings`, { method: 'POST', json: { metadata: { name: 'bob-configurer' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'configurer' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'bob' }] } })).status).toBe(201);
    await eventually(async () => (await call(t.url, bob, '/api/v1/namespaces/settings/configmaps', { method: 'POST', json: { metadata: { name: 'app' }, data: { a: '1' } } })).status === 201, 3000, 'bob creates a ConfigMap');
    expect((await call(t.url, bob, '/api/v1/namespaces/settings/secrets')).status).toBe(403);
  });

  it('an upgrade updates the templates it keeps, adds new ones and removes those it no longer brings', async () => {
    await install('books', '2.0.0');
    await settled('books', 'Installed', '2.0.0');
    await eventually(async () => (await templates('books')).map((i) => i.metadata.name).sort().join() === 'books-admin,books-reader', 5000, 'templates of 2.0.0');
    const items = await templates('books');
    const reader = items.find((i) => i.metadata.name === 'books-reader')!;
    expect(reader.spec.displayName).toBe('Read books and their status');
    expect(reader.spec.rules).toEqual([{ apiGroups: ['library.example'], resources: ['books', 'books/status'], verbs: ['get', 'list', 'watch'] }]);
    expect(items.find((i) => i.metadata.name === 'books-admin')!.metadata.labels!['iam.mortise.io/scope']).toBe('workspace');
  });

  it('refuses an install whose template grants what the extension neither owns nor declared', async () => {
    await install('grabby', '1.0.0');
    const grabby = await settled('grabby', 'InstallFailed');
    expect(grabby.status!.message).toMatch(/roleTemplates\[0\] \(spy\) rules\[1\] grants get,list on secrets in group ""/);
    expect(await templates('grabby')).toEqual([]);
    await install('squatter', '1.0.0');
    const squatter = await settled('squatter', 'InstallFailed');
    expect(squatter.status!.message).toMatch(/rules\[0\] grants update on books in group "library.example"/);
    expect(await templates('squatter')).toEqual([]);
    // The refused installs left the books' templates alone.
    expect((await templates('books')).length).toBe(2);
  });

  it('uninstalling removes the templates', async () => {
    expect((await t.api(`${ext}/installplans/books`, { method: 'DELETE' })).status).toBeLessThan(300);
    await eventually(async () => (await t.api(`${ext}/installplans/books`)).status === 404, 20_000, 'books uninstalled');
    expect(await templates('books')).toEqual([]);
  });
});
