import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCore, workspace, type TestCore } from './support/test-core.js';
import { apiFailure, mergePatch, settle, statusOf, type StatusBody } from './support/k8s-helpers.js';

// Bad input of every kind: each answer is a metav1.Status with the right code and a message
// that says what is wrong, and nothing is written. Raw fetch where a client cannot send it.

const wsUrl = '/apis/tenant.mortise.io/v1alpha1/workspaces';
const rolesUrl = '/apis/iam.mortise.io/v1alpha1/namespaces/bad-ns/roles';

describe('bad input', () => {
  let t: TestCore;
  let objects: k8s.CustomObjectsApi;
  let existing: { metadata: { resourceVersion: string; uid: string } };

  /** Runs `fn`, which must fail, and checks that the store did not move and the workspaces are unchanged. */
  const nothingWritten = async (fn: () => Promise<StatusBody>): Promise<StatusBody> => {
    // The core's controllers may still be reacting to the setup; start once they are done.
    const rv = await settle(t.core.store);
    const before = await (await t.api(wsUrl)).json() as { items: unknown[] };
    const status = await fn();
    expect(await t.core.store.currentResourceVersion()).toBe(rv);
    const after = await (await t.api(wsUrl)).json() as { items: unknown[] };
    expect(after.items).toEqual(before.items);
    return status;
  };
  const send = (path: string, method: string, body: string | Buffer, contentType = 'application/json') =>
    t.api(path, { method, body, headers: { 'content-type': contentType } });
  const expectStatus = (path: string, method: string, body: string | Buffer, code: number, contentType?: string) =>
    nothingWritten(async () => statusOf(await send(path, method, body, contentType), code));

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    objects = t.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    await t.kubeConfig.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: 'bad-ns' } } });
    await objects.createClusterCustomObject({ group: 'tenant.mortise.io', version: 'v1alpha1', plural: 'workspaces', body: workspace('existing', { a: 'b' }, { manager: 'm' }) });
    await settle(t.core.store);
    existing = (await objects.getClusterCustomObject({ group: 'tenant.mortise.io', version: 'v1alpha1', plural: 'workspaces', name: 'existing' })) as typeof existing;
  });
  afterAll(async () => t?.close());

  describe('malformed bodies (400)', () => {
    it('refuses JSON that does not parse, on create, replace and patch', async () => {
      for (const [path, method, ct] of [[wsUrl, 'POST', 'application/json'], [`${wsUrl}/existing`, 'PUT', 'application/json'], [`${wsUrl}/existing`, 'PATCH', 'application/merge-patch+json']] as const) {
        const s = await expectStatus(path, method, '{"apiVersion": "tenant.mortise.io/v1alpha1", "kind": ', 400, ct);
        expect(s.reason).toBe('BadRequest');
        expect(s.message).toMatch(/not valid JSON/);
      }
    });

    it('refuses bodies that are not a JSON object', async () => {
      for (const body of ['[]', '"a string"', '42', 'null']) {
        const s = await expectStatus(wsUrl, 'POST', body, 400);
        expect(s.message).toMatch(/JSON object/);
      }
    });

    it('refuses an empty body', async () => {
      const s = await expectStatus(wsUrl, 'POST', '', 400);
      expect(s.message).toMatch(/empty/);
    });

    it('refuses YAML that does not parse', async () => {
      const s = await expectStatus(wsUrl, 'POST', 'metadata: [unclosed', 400, 'application/yaml');
      expect(s.message).toMatch(/YAML/);
    });

    it('refuses a JSON patch that is not a list of operations, and a merge patch that is not an object', async () => {
      const s = await expectStatus(`${wsUrl}/existing`, 'PATCH', '{"op": "add"}', 400, 'application/json-patch+json');
      expect(s.message).toMatch(/array of operations/);
      const s2 = await expectStatus(`${wsUrl}/existing`, 'PATCH', '[1, 2]', 400, 'application/merge-patch+json');
      expect(s2.message).toMatch(/merge patch must be a JSON object/);
      const s3 = await expectStatus(`${wsUrl}/existing`, 'PATCH', '[{"op": "frobnicate", "path": "/spec"}]', 422, 'application/json-patch+json');
      expect(s3.message).toMatch(/JSON patch/);
      const s4 = await expectStatus(`${wsUrl}/existing`, 'PATCH', '[{"op": "remove", "path": "/spec/nothing/here"}]', 422, 'application/json-patch+json');
      expect(s4.message).toMatch(/JSON patch/);
    });
  });

  describe('wrong apiVersion or kind for the URL (400)', () => {
    it('on create', async () => {
      const v = await expectStatus(wsUrl, 'POST', JSON.stringify({ ...workspace('wrong-v'), apiVersion: 'tenant.mortise.io/v9' }), 400);
      expect(v.message).toContain('tenant.mortise.io/v9');
      expect(v.message).toContain('tenant.mortise.io/v1alpha1');
      const g = await expectStatus(wsUrl, 'POST', JSON.stringify({ ...workspace('wrong-g'), apiVersion: 'iam.mortise.io/v1alpha1' }), 400);
      expect(g.message).toContain('apiVersion');
      const k = await expectStatus(wsUrl, 'POST', JSON.stringify({ ...workspace('wrong-k'), kind: 'Role' }), 400);
      expect(k.message).toContain('Role');
      expect(k.message).toContain('Workspace');
    });

    it('on replace and through a patch', async () => {
      const cur = await (await t.api(`${wsUrl}/existing`)).json() as Record<string, unknown>;
      await expectStatus(`${wsUrl}/existing`, 'PUT', JSON.stringify({ ...cur, kind: 'Namespace' }), 400);
      await expectStatus(`${wsUrl}/existing`, 'PATCH', JSON.stringify({ apiVersion: 'v1' }), 400, 'application/merge-patch+json');
      await expectStatus(`${wsUrl}/existing`, 'PATCH', JSON.stringify([{ op: 'replace', path: '/kind', value: 'Other' }]), 400, 'application/json-patch+json');
    });

    it('a kind or version the server does not have is 404', async () => {
      const s = await nothingWritten(async () => statusOf(await send('/apis/tenant.mortise.io/v9/workspaces', 'POST', JSON.stringify(workspace('x'))), 404));
      expect(s.reason).toBe('NotFound');
      await nothingWritten(async () => statusOf(await send('/apis/nope.example.com/v1/things', 'POST', '{}'), 404));
      await nothingWritten(async () => statusOf(await t.api('/apis/tenant.mortise.io/v1alpha1/widgets'), 404));
    });
  });

  describe('validation (422 with causes naming the field)', () => {
    const causesOf = (s: StatusBody) => (s.details?.causes ?? []).map((c) => c.field);

    it('schema violations on a built-in kind', async () => {
      const s = await expectStatus(wsUrl, 'POST', JSON.stringify(workspace('schema-bad', {}, { manager: 42, quota: { hard: { namespaces: 10 } } })), 422);
      expect(s.reason).toBe('Invalid');
      expect(causesOf(s)).toEqual(expect.arrayContaining(['spec.manager', 'spec.quota.hard.namespaces']));
      expect(s.message).toContain('spec.manager');
      expect(s.details).toMatchObject({ name: 'schema-bad', group: 'tenant.mortise.io', kind: 'Workspace' });

      const r = await nothingWritten(async () => statusOf(await send(rolesUrl, 'POST', JSON.stringify({
        apiVersion: 'iam.mortise.io/v1alpha1', kind: 'Role', metadata: { name: 'r' }, rules: [{ resources: ['pods'] }],
      })), 422));
      expect(causesOf(r)).toContain('rules[0].verbs');
      expect(r.details?.causes?.find((c) => c.field === 'rules[0].verbs')?.reason).toBe('FieldValueRequired');
    });

    it('schema violations in an update and a patch', async () => {
      await nothingWritten(async () => statusOf(await send(`${wsUrl}/existing`, 'PATCH', JSON.stringify({ spec: { manager: ['x'] } }), 'application/merge-patch+json'), 422));
      const cur = await (await t.api(`${wsUrl}/existing`)).json() as Record<string, unknown>;
      const s = await expectStatus(`${wsUrl}/existing`, 'PUT', JSON.stringify({ ...cur, spec: { quota: 'lots' } }), 422);
      expect(causesOf(s)).toContain('spec.quota');
    });

    it('names that are not DNS-1123 subdomains (or labels, for namespaces)', async () => {
      for (const name of ['Upper-Case', 'under_score', 'trailing-', '-leading', 'a..b', 'sp ace', 'x'.repeat(254)]) {
        const s = await expectStatus(wsUrl, 'POST', JSON.stringify(workspace(name)), 422);
        expect(causesOf(s)).toContain('metadata.name');
        expect(s.message).toMatch(/RFC 1123|no more than 253/);
      }
      const ns = await nothingWritten(async () => statusOf(await send('/api/v1/namespaces', 'POST', JSON.stringify({ metadata: { name: 'dotted.name' } })), 422));
      expect(ns.message).toMatch(/RFC 1123 label/);
      const gen = await expectStatus(wsUrl, 'POST', JSON.stringify({ ...workspace(''), metadata: { generateName: 'Bad_' } }), 422);
      expect(causesOf(gen)).toContain('metadata.name');
    });

    it('bad labels, annotations, finalizers, ownerReferences and metadata', async () => {
      const meta = (m: Record<string, unknown>) => JSON.stringify({ ...workspace('meta-bad'), metadata: { name: 'meta-bad', ...m } });
      expect(causesOf(await expectStatus(wsUrl, 'POST', meta({ labels: { 'bad key!': 'v' } }), 422))).toContain('metadata.labels');
      expect(causesOf(await expectStatus(wsUrl, 'POST', meta({ labels: { k: 'bad value!' } }), 422))).toContain('metadata.labels');
      expect(causesOf(await expectStatus(wsUrl, 'POST', meta({ labels: { k: 5 } }), 422))).toContain('metadata.labels.k');
      expect(causesOf(await expectStatus(wsUrl, 'POST', meta({ annotations: { a: { nested: true } } }), 422))).toContain('metadata.annotations.a');
      expect(causesOf(await expectStatus(wsUrl, 'POST', meta({ finalizers: ['not a finalizer'] }), 422))).toContain('metadata.finalizers[0]');
      expect(causesOf(await expectStatus(wsUrl, 'POST', meta({ ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'x' }] }), 422))).toContain('metadata.ownerReferences[0].uid');
      expect(causesOf(await expectStatus(wsUrl, 'POST', JSON.stringify({ ...workspace('x'), metadata: 'a string' }), 422))).toContain('metadata');
      expect(causesOf(await expectStatus(wsUrl, 'POST', meta({ bogusMeta: 1 }), 422))).toContain('metadata.bogusMeta');
    });

    it('unknown fields (422 by default; Ignore prunes; Warn warns)', async () => {
      const s = await expectStatus(wsUrl, 'POST', JSON.stringify({ ...workspace('unknown-f', {}, { manager: 'm', managr: 'typo' }), extraTop: 1 }), 422);
      expect(causesOf(s).sort()).toEqual(['extraTop', 'spec.managr']);
      expect(s.message).toContain('unknown field "spec.managr"');
      const p = await expectStatus(`${wsUrl}/existing`, 'PATCH', JSON.stringify({ spec: { managr: 'typo' } }), 422, 'application/merge-patch+json');
      expect(causesOf(p)).toEqual(['spec.managr']);
      await statusOf(await send(`${wsUrl}?fieldValidation=Sloppy`, 'POST', JSON.stringify(workspace('fv'))), 400);
    });
  });

  describe('protocol errors', () => {
    it('a 4 MiB body is 413', async () => {
      const big = JSON.stringify({ ...workspace('big', {}, { description: 'x'.repeat(4 * 1024 * 1024) }) });
      const s = await expectStatus(wsUrl, 'POST', big, 413);
      expect(s.reason).toBe('RequestEntityTooLarge');
      expect(s.message).toMatch(/larger than/);
      await expectStatus(`${wsUrl}/existing`, 'PUT', big, 413);
      await expectStatus(`${wsUrl}/existing`, 'PATCH', JSON.stringify({ spec: { description: 'x'.repeat(4 * 1024 * 1024) } }), 413, 'application/merge-patch+json');
      // The connection and server are fine afterwards.
      expect((await t.api(`${wsUrl}/existing`)).status).toBe(200);
    });

    it('a refused oversized body does not hold the connection (a shutdown is not kept waiting)', async () => {
      const other = await startTestCore({ inMemory: true });
      const res = await other.api(wsUrl, { method: 'POST', body: 'x'.repeat(5 * 1024 * 1024), headers: { 'content-type': 'application/json' } });
      await statusOf(res, 413);
      const started = Date.now();
      await other.close();
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it('a wrong content type on PATCH is 415, also through client-node', async () => {
      for (const ct of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
        const s = await expectStatus(`${wsUrl}/existing`, 'PATCH', JSON.stringify({ spec: { manager: 'x' } }), 415, ct);
        expect(s.reason).toBe('UnsupportedMediaType');
        expect(s.message).toMatch(/merge-patch\+json/);
      }
      // Server-side apply is served, and (as kube-apiserver) needs a field manager.
      const apply = await expectStatus(`${wsUrl}/existing`, 'PATCH', 'spec: {}', 422, 'application/apply-patch+yaml');
      expect(apply.message).toBe('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
      const s = await apiFailure(objects.patchClusterCustomObject({ group: 'tenant.mortise.io', version: 'v1alpha1', plural: 'workspaces', name: 'existing', body: { spec: { manager: 'x' } } }, k8s.setHeaderOptions('Content-Type', 'text/plain')), 415);
      expect(s.reason).toBe('UnsupportedMediaType');
    });

    it('a non-JSON content type on create is 415', async () => {
      const s = await expectStatus(wsUrl, 'POST', JSON.stringify(workspace('ct')), 415, 'text/plain');
      expect(s.message).toMatch(/application\/json/);
    });

    it('POST to a named object and writes to unknown subresources are refused', async () => {
      await nothingWritten(async () => statusOf(await send(`${wsUrl}/existing`, 'POST', JSON.stringify(workspace('existing'))), 405));
      await nothingWritten(async () => statusOf(await send(`${wsUrl}/existing/scale`, 'PUT', '{}'), 404));
      await nothingWritten(async () => statusOf(await send(`${wsUrl}/existing/status`, 'DELETE', ''), 405));
    });
  });

  describe('bad query parameters (400)', () => {
    const get = async (query: string) => statusOf(await t.api(`${wsUrl}?${query}`), 400);

    it('an invalid label selector', async () => {
      for (const sel of ['a in (b', 'a notin b', '=x', 'a=b=c', '!a=b', 'a in (b,c))']) {
        const s = await get(`labelSelector=${encodeURIComponent(sel)}`);
        expect(s.reason).toBe('BadRequest');
        expect(s.message).toMatch(/unable to parse|invalid/);
      }
      await apiFailure(objects.listClusterCustomObject({ group: 'tenant.mortise.io', version: 'v1alpha1', plural: 'workspaces', labelSelector: 'x in (' }), 400);
    });

    it('an invalid field selector', async () => {
      expect((await get('fieldSelector=spec.manager%3Dx')).message).toMatch(/field label not supported: spec.manager/);
      expect((await get('fieldSelector=metadata.name')).message).toMatch(/field selector/);
    });

    it('an invalid continue token', async () => {
      for (const token of ['garbage', Buffer.from('{"v":2}').toString('base64url'), Buffer.from('not json').toString('base64url')]) {
        const s = await get(`limit=1&continue=${token}`);
        expect(s.message).toMatch(/continue token/);
      }
    });

    it('an invalid limit, dryRun, propagationPolicy or resourceVersion', async () => {
      expect((await get('limit=-1')).message).toMatch(/limit/);
      expect((await get('limit=ten')).message).toMatch(/limit/);
      expect((await get('resourceVersion=abc')).message).toMatch(/resource version/);
      expect((await get('watch=true&resourceVersion=abc')).message).toMatch(/resource version/);
      await expectStatus(`${wsUrl}?dryRun=Yes`, 'POST', JSON.stringify(workspace('dry')), 400);
      const del = await nothingWritten(async () => statusOf(await t.api(`${wsUrl}/existing?propagationPolicy=Eventually`, { method: 'DELETE' }), 400));
      expect(del.message).toMatch(/propagationPolicy/);
    });

    it('an update with a resourceVersion that is not one the server gave out', async () => {
      const cur = await (await t.api(`${wsUrl}/existing`)).json() as { metadata: Record<string, unknown> };
      const s = await expectStatus(`${wsUrl}/existing`, 'PUT', JSON.stringify({ ...cur, metadata: { ...cur.metadata, resourceVersion: 'abc' } }), 400);
      expect(s.message).toMatch(/resource version/);
      await expectStatus(`${wsUrl}/existing`, 'PATCH', JSON.stringify({ metadata: { resourceVersion: 'x1' } }), 400, 'application/merge-patch+json');
    });
  });

  it('leaves the existing object exactly as it was after all of the above', async () => {
    const now = await (await t.api(`${wsUrl}/existing`)).json() as { metadata: { resourceVersion: string; uid: string }; spec: unknown };
    expect(now.metadata.resourceVersion).toBe(existing.metadata.resourceVersion);
    expect(now.metadata.uid).toBe(existing.metadata.uid);
    expect(now.spec).toEqual({ manager: 'm' });
    // And a good patch still works.
    const ok = (await objects.patchClusterCustomObject({ group: 'tenant.mortise.io', version: 'v1alpha1', plural: 'workspaces', name: 'existing', body: { spec: { manager: 'n' } } }, mergePatch)) as { spec: unknown };
    expect(ok.spec).toEqual({ manager: 'n' });
  });
});
