import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../src/audit/audit-log.js';
import { call, eventually, kubeConfigFor, login, startTestCore, type TestCore } from './support/test-core.js';

// Security: which tenant an object belongs to is authorized in the destination. Every tenancy
// marker (the workspace label on every kind that carries it, an ownerReference to a Workspace or
// to an object of a workspace) × every way to write (PUT, merge patch, JSON patch, create,
// kubectl apply) × who writes (an admin of the source only, an admin of both).

const run = promisify(execFile);
const label = 'tenant.mortise.io/workspace';
const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';
const kapis = '/kapis/tenant.mortise.io/v1alpha1';
type Meta = { name: string; resourceVersion?: string; labels?: Record<string, string>; ownerReferences?: OwnerRef[]; uid?: string };
type OwnerRef = { apiVersion: string; kind: string; name: string; uid: string };
type Obj = { metadata: Meta; [k: string]: unknown };

describe('tenant moves are authorized in the destination', () => {
  let t: TestCore;
  const tokens: Record<string, string> = {};
  const as = (user: string) => (path: string, init: RequestInit & { json?: unknown } = {}) => call(t.url, user === 'admin' ? t.token : tokens[user], path, init);
  const read = async (path: string) => {
    const res = await t.api(path);
    expect(res.status, path).toBe(200);
    return (await res.json()) as Obj;
  };
  const created = async (path: string, body: unknown) => {
    const res = await t.api(path, { method: 'POST', json: body });
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(201);
    return (await res.json()) as Obj;
  };

  async function user(name: string) {
    await created(`${iam}/users`, { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name }, spec: { email: `${name}@example.com`, password: `${name}-Password-9x` } });
    tokens[name] = await login(t.url, name, `${name}-Password-9x`);
  }
  const binding = (ws: string, name: string, role: string, subject: string) => ({
    metadata: { name, labels: { [label]: ws } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: role }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: subject }],
  });

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    // alice administers wsa only; bob administers both; nina administers wsb and one namespace of wsa.
    for (const u of ['alice', 'bob', 'nina']) await user(u);
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsa' }, spec: { manager: 'alice' } });
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsb' }, spec: { manager: 'bob' } });
    await eventually(async () => (await t.api(`${iam}/workspaceroles/wsb-viewer`)).status === 200 && (await t.api(`${iam}/workspaceroles/wsa-admin`)).status === 200, 5000, 'workspace roles');
    await created(`${iam}/workspacerolebindings`, binding('wsa', 'wsa-bob-admin', 'wsa-admin', 'bob'));
    await created(`${iam}/workspacerolebindings`, binding('wsb', 'wsb-nina-admin', 'wsb-admin', 'nina'));
    for (const [name, ws] of [['a-ns', 'wsa'], ['a-ns2', 'wsa'], ['b-ns', 'wsb']] as const) {
      await created('/api/v1/namespaces', { metadata: { name, labels: { [label]: ws } } });
    }
    await created(`${iam}/namespaces/a-ns2/rolebindings`, { metadata: { name: 'nina-admin' }, roleRef: { kind: 'Role', name: 'admin' }, subjects: [{ kind: 'User', name: 'nina' }] });
    await created('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      metadata: { name: 'gadgets.example.com' },
      spec: {
        group: 'example.com', scope: 'Namespaced', names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }],
      },
    });
    await eventually(async () => (await t.api('/apis/example.com/v1/namespaces/a-ns/gadgets')).status === 200, 5000, 'gadgets served');
    // Roles and the admin bindings above are in force, and the namespace controller has settled.
    await eventually(async () => (await as('nina')('/api/v1/namespaces/a-ns2')).status === 200 && (await as('bob')('/api/v1/namespaces/a-ns')).status === 200, 5000, 'bindings in force');
    await eventually(async () => ((await read('/api/v1/namespaces/a-ns')).metadata.ownerReferences ?? []).some((r) => r.kind === 'Workspace'), 5000, 'namespace owned by its workspace');
  });
  afterAll(async () => t?.close());

  // Every kind that carries the label: the tenant kinds, and others (a Role, a custom resource).
  let serial = 0;
  const kinds: Array<{ kind: string; make: () => Promise<string>; beforeMoveToB?: (path: string) => Promise<void> }> = [
    {
      kind: 'Namespace',
      make: async () => {
        const name = `mv-ns-${++serial}`;
        await created('/api/v1/namespaces', { metadata: { name, labels: { [label]: 'wsa' } } });
        const path = `/api/v1/namespaces/${name}`;
        // Let the workspace controller add its ownerReference first, so writes below do not race it.
        await eventually(async () => ((await read(path)).metadata.ownerReferences ?? []).length > 0, 5000, 'namespace owned');
        return path;
      },
    },
    {
      kind: 'WorkspaceRole',
      make: async () => {
        const name = `mv-role-${++serial}`;
        await created(`${iam}/workspaceroles`, { metadata: { name, labels: { [label]: 'wsa' } }, rules: [] });
        return `${iam}/workspaceroles/${name}`;
      },
    },
    {
      kind: 'WorkspaceRoleBinding',
      make: async () => {
        const name = `mv-binding-${++serial}`;
        await created(`${iam}/workspaceroles`, { metadata: { name: `${name}-role`, labels: { [label]: 'wsa' } }, rules: [] });
        await created(`${iam}/workspacerolebindings`, binding('wsa', name, `${name}-role`, 'nina'));
        return `${iam}/workspacerolebindings/${name}`;
      },
      // A binding follows its role: move the role first (as the platform admin).
      beforeMoveToB: async (path) => {
        const res = await t.api(`${path.replace("workspacerolebindings", "workspaceroles")}-role`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { [label]: 'wsb' } } }) });
        expect(res.status).toBe(200);
      },
    },
    {
      kind: 'Role',
      make: async () => {
        const name = `mv-nsrole-${++serial}`;
        await created(`${iam}/namespaces/a-ns/roles`, { metadata: { name }, rules: [] });
        return `${iam}/namespaces/a-ns/roles/${name}`;
      },
    },
    {
      kind: 'Gadget (custom resource)',
      make: async () => {
        const name = `mv-gadget-${++serial}`;
        await created('/apis/example.com/v1/namespaces/a-ns/gadgets', { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name }, spec: { size: 1 } });
        return `/apis/example.com/v1/namespaces/a-ns/gadgets/${name}`;
      },
    },
  ];

  // Every marker of tenancy, pointing at workspace A or B.
  const owner = async (path: string, apiVersion: string, kind: string): Promise<OwnerRef> => {
    const o = await read(path);
    return { apiVersion, kind, name: o.metadata.name, uid: o.metadata.uid! };
  };
  const markers: Array<{ marker: string; to: (ws: 'wsa' | 'wsb') => Promise<{ label?: string; ref?: OwnerRef }> }> = [
    { marker: `the ${label} label`, to: async (ws) => ({ label: ws }) },
    { marker: 'an ownerReference to a Workspace', to: async (ws) => ({ ref: await owner(`${tenant}/workspaces/${ws}`, 'tenant.mortise.io/v1alpha1', 'Workspace') }) },
    { marker: 'an ownerReference to a Namespace of a workspace', to: async (ws) => ({ ref: await owner(`/api/v1/namespaces/${ws === 'wsa' ? 'a-ns' : 'b-ns'}`, 'v1', 'Namespace') }) },
    { marker: 'an ownerReference to a WorkspaceRole', to: async (ws) => ({ ref: await owner(`${iam}/workspaceroles/${ws}-viewer`, 'iam.mortise.io/v1alpha1', 'WorkspaceRole') }) },
  ];

  // Every way to write a change of marker.
  const writes: Array<{ via: string; write: (who: string, path: string, change: { label?: string; ref?: OwnerRef }) => Promise<Response> }> = [
    {
      via: 'PUT',
      write: async (who, path, change) => {
        const o = await read(path);
        if (change.label) o.metadata.labels = { ...o.metadata.labels, [label]: change.label };
        if (change.ref) o.metadata.ownerReferences = [...(o.metadata.ownerReferences ?? []), change.ref];
        return as(who)(path, { method: 'PUT', json: o });
      },
    },
    {
      via: 'merge patch',
      write: async (who, path, change) => {
        const refs = change.ref ? [...((await read(path)).metadata.ownerReferences ?? []), change.ref] : undefined;
        const patch = { metadata: { ...(change.label ? { labels: { [label]: change.label } } : {}), ...(refs ? { ownerReferences: refs } : {}) } };
        return as(who)(path, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(patch) });
      },
    },
    {
      via: 'JSON patch',
      write: async (who, path, change) => {
        const o = await read(path);
        const ops: unknown[] = [];
        if (change.label) {
          if (!o.metadata.labels) ops.push({ op: 'add', path: '/metadata/labels', value: {} });
          ops.push({ op: 'add', path: '/metadata/labels/tenant.mortise.io~1workspace', value: change.label });
        }
        if (change.ref) {
          ops.push(o.metadata.ownerReferences ? { op: 'add', path: '/metadata/ownerReferences/-', value: change.ref } : { op: 'add', path: '/metadata/ownerReferences', value: [change.ref] });
        }
        return as(who)(path, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) });
      },
    },
  ];

  const marked = (o: Obj, change: { label?: string; ref?: OwnerRef }) =>
    change.label ? o.metadata.labels?.[label] === change.label : (o.metadata.ownerReferences ?? []).some((r) => r.uid === change.ref!.uid);

  for (const { kind, make, beforeMoveToB } of kinds) {
    for (const { marker, to } of markers) {
      for (const { via, write } of writes) {
        it(`${kind}, ${marker}, via ${via}: an admin of A alone is refused into B and allowed within A; an admin of both is allowed`, async () => {
          const path = await make();
          const before = await read(path);

          // alice (admin of A only) into B: refused, nothing changed.
          const intoB = await to('wsb');
          const refused = await write('alice', path, intoB);
          const status = (await refused.json()) as { reason: string; message: string };
          expect(refused.status, status.message).toBe(403);
          expect(status.message).toContain('workspace "wsb"');
          expect((await read(path)).metadata.resourceVersion).toBe(before.metadata.resourceVersion);

          // alice within A: allowed.
          const withinA = await to('wsa');
          const allowed = await write('alice', path, withinA);
          expect(allowed.status, await allowed.clone().text()).toBe(200);
          expect(marked((await allowed.json()) as Obj, withinA)).toBe(true);

          // bob (admin of both) into B: allowed.
          if (intoB.label) await beforeMoveToB?.(path);
          const moved = await write('bob', path, intoB);
          expect(moved.status, await moved.clone().text()).toBe(200);
          expect(marked((await moved.json()) as Obj, intoB)).toBe(true);
        });
      }
    }
  }

  it('refuses creating an object into a workspace the caller has no role in, by label or by owner', async () => {
    const alice = as('alice');
    const wsb = await owner(`${tenant}/workspaces/wsb`, 'tenant.mortise.io/v1alpha1', 'Workspace');
    const byLabel = await alice(`${iam}/namespaces/a-ns/roles`, { method: 'POST', json: { metadata: { name: 'sneaky', labels: { [label]: 'wsb' } }, rules: [] } });
    expect(byLabel.status).toBe(403);
    const byOwner = await alice(`${iam}/namespaces/a-ns/roles`, { method: 'POST', json: { metadata: { name: 'sneaky', ownerReferences: [wsb] }, rules: [] } });
    expect(byOwner.status).toBe(403);
    expect((await t.api(`${iam}/namespaces/a-ns/roles/sneaky`)).status).toBe(404);
    // In her own workspace she may.
    const mine = await alice(`${iam}/namespaces/a-ns/roles`, { method: 'POST', json: { metadata: { name: 'fine', labels: { [label]: 'wsa' } }, rules: [] } });
    expect(mine.status).toBe(201);
  });

  it('authorizes taking an object out of every workspace at the cluster scope', async () => {
    await created('/api/v1/namespaces', { metadata: { name: 'leaving', labels: { [label]: 'wsa' } } });
    const unlabel = (who: string) => as(who)('/api/v1/namespaces/leaving', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { [label]: null } } }) });
    const refused = await unlabel('alice');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toContain('taking it out of workspace "wsa"');
    expect((await read('/api/v1/namespaces/leaving')).metadata.labels?.[label]).toBe('wsa');
    const done = await unlabel('admin');
    expect(done.status).toBe(200);
    expect((await read('/api/v1/namespaces/leaving')).metadata.labels?.[label]).toBeUndefined();
  });

  it('needs the source workspace too: a namespace admin cannot carry the namespace off', async () => {
    // nina administers namespace a-ns2 (a Role in it) and workspace wsb, but holds nothing in wsa.
    const res = await as('nina')('/api/v1/namespaces/a-ns2', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { [label]: 'wsb' } } }) });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toContain('moving it out of workspace "wsa"');
    expect((await read('/api/v1/namespaces/a-ns2')).metadata.labels?.[label]).toBe('wsa');
    // Her Role in the namespace still lets her edit it otherwise.
    const edit = await as('nina')('/api/v1/namespaces/a-ns2', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { team: 'x' } } }) });
    expect(edit.status).toBe(200);
  });

  it('refuses the move through kubectl apply as well', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mortise-move-'));
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(kubeconfig, kubeConfigFor(t.core, tokens.alice!).exportConfig());
      const manifest = join(dir, 'ns.yaml');
      writeFileSync(manifest, `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a-ns\n  labels:\n    ${label}: wsb\n`);
      const err = await run('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=20s', 'apply', '-f', manifest]).then(() => undefined, (e: { stderr?: string }) => e.stderr ?? '');
      expect(err).toContain('moving it into workspace "wsb"');
      expect((await read('/api/v1/namespaces/a-ns')).metadata.labels?.[label]).toBe('wsa');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('audits a move with its source and destination, refused or not', async () => {
    await created('/api/v1/namespaces', { metadata: { name: 'audited', labels: { [label]: 'wsa' } } });
    const patch = (who: string) => as(who)('/api/v1/namespaces/audited', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { [label]: 'wsb' } } }) });
    const refused = await patch('alice');
    expect(refused.status).toBe(403);
    const allowed = await patch('bob');
    expect(allowed.status).toBe(200);
    const event = async (res: Response) => (await (await t.api(`/kapis/audit.mortise.io/v1alpha1/events/${res.headers.get('audit-id')}`)).json()) as AuditEvent;
    const no = await event(refused);
    expect(no.objectRef?.workspace).toBe('wsb');
    expect(no.annotations).toMatchObject({ decision: 'forbid', 'tenant.mortise.io/moved-from': 'wsa', 'tenant.mortise.io/moved-to': 'wsb' });
    const yes = await event(allowed);
    expect(yes.objectRef?.workspace).toBe('wsb');
    expect(yes.annotations).toMatchObject({ decision: 'allow', 'tenant.mortise.io/moved-from': 'wsa', 'tenant.mortise.io/moved-to': 'wsb' });
    // The workspace's audit view shows it.
    const inB = (await (await t.api(`/kapis/audit.mortise.io/v1alpha1/events?workspace=wsb&name=audited`)).json()) as { items: AuditEvent[] };
    expect(inB.items.map((e) => e.responseStatus.code).sort()).toEqual([200, 403]);
  });

  it('leaves the workspace quota to the destination: a move into a full workspace is refused', async () => {
    await created(`${tenant}/workspaces`, { metadata: { name: 'wsfull' }, spec: { manager: 'bob', quota: { hard: { namespaces: '0' } } } });
    await eventually(async () => (await as('bob')(`${tenant}/workspaces/wsfull`)).status === 200, 5000, 'bob manages wsfull');
    const res = await as('bob')('/api/v1/namespaces/a-ns', { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { [label]: 'wsfull' } } }) });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toContain('exceeded quota of workspace "wsfull"');
  });
});
