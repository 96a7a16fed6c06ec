import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concretePaths, routerLayers } from './support/route-inventory.js';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// What is authorized is exactly what is served. Every kind in discovery (core kinds, and
// CRD-defined ones, namespaced and cluster-scoped) is walked through every route the resource
// API accepts — get, list, watch (watch=1, watch=true, the /watch/ prefix), a list or watch
// naming one object by field selector, writes (dry run), subresources, tables — as users each
// authorized for exactly one named object. Every object a response or watch event carries must
// be one that user may read, and lie within the namespace and name the request was authorized
// for; a request the user holds no grant for is a 403.

const iam = '/apis/iam.mortise.io/v1alpha1';
const mx = 'matrix.mortise.io';
const idAnnotation = `${mx}/id`;
const tickAnnotation = `${mx}/tick`;
const tableAccept = 'application/json;as=Table;v=v1;g=meta.k8s.io';

// The names a fixture of each kind takes: the granted one and another. A CRD's name is fixed by
// what it defines, so its pair differs (and defines the two custom kinds the matrix walks).
const MINE = 'mx-mine';
const OTHER = 'mx-other';
const crdMine = `mxmines.${mx}`;
const crdOther = `mxothers.${mx}`;
const mineNames = [MINE, crdMine];
const namesOf = (plural: string) => (plural === 'customresourcedefinitions' ? [crdMine, crdOther] : [MINE, OTHER]);
/** Namespaces whose objects the matrix holds (the granted one is named like every granted object). */
const namespaces = [MINE, OTHER];

interface Kind {
  groupVersion: string;
  plural: string;
  namespaced: boolean;
  verbs: string[];
  subresources: string[];
}

type Principal = 'global' | 'namespace' | 'workspace' | 'self';
const users: Record<Principal, string> = { global: 'mx-global-user', namespace: 'mx-namespace-user', workspace: 'mx-workspace-viewer', self: 'mx-self' };
const readVerbs = ['get', 'list', 'watch'];
/** Kinds whose objects belong to a workspace by their label (the fixtures named mx-mine, and the roles its controller makes). */
const workspaceLabelled = new Set(['workspaceroles', 'workspacerolebindings']);
/** What every logged-in user may read whole (the `authenticated` role: the console's composition and the role editor's RoleTemplates). */
const publicRead = new Set(['jsbundles', 'extensionentries', 'roletemplates']);
const reviewKinds = new Set(['selfsubjectaccessreviews', 'selfsubjectrulesreviews']);

/**
 * The grants, stated independently of the server: whether `who` may do `verb` on the object
 * `name` (or the collection when '') of `plural` in the namespace `ns` (cluster scope when '').
 */
function granted(who: Principal, plural: string, verb: string, ns: string, name: string, sub = ''): boolean {
  if (reviewKinds.has(plural) && verb === 'create' && !sub) return true;
  if (publicRead.has(plural) && ['get', 'list', 'watch'].includes(verb) && !sub) return true;
  switch (who) {
    // A GlobalRole: every verb on objects named mx-mine, of every kind, anywhere.
    case 'global': return mineNames.includes(name);
    // A Role in namespace mx-mine: every verb on objects named mx-mine there (the Namespace
    // mx-mine is its own scope).
    case 'namespace': return mineNames.includes(name) && (ns === MINE || (plural === 'namespaces' && name === MINE && (ns === '' || ns === MINE)));
    // The built-in viewer of workspace mx-mine (which namespace mx-mine is in): reads the
    // workspace, its namespace and everything in it, and the roles and bindings labelled with it.
    case 'workspace':
      if (!readVerbs.includes(verb)) return false;
      if (ns === MINE) return true;
      if (ns !== '') return false;
      if (plural === 'namespaces' || plural === 'workspaces') return name === MINE;
      return workspaceLabelled.has(plural) && (name === MINE || name.startsWith(`${MINE}-`));
    // Any user: get, list and watch their own User.
    case 'self': return plural === 'users' && !sub && name === users.self && ns === '' && ['get', 'list', 'watch'].includes(verb);
  }
}

/** The tenant list of one's workspaces shows the workspace of a namespace one has a role in. */
const memberOf = (who: Principal, plural: string, name: string) => who === 'namespace' && plural === 'workspaces' && name === MINE;

/** Whether `who` may read the object: what any response may carry. */
const readable = (who: Principal, plural: string, ns: string, name: string) => granted(who, plural, 'get', plural === 'namespaces' ? name : ns, name);

interface Served {
  apiVersion?: string;
  kind?: string;
  ns: string;
  name: string;
  annotations: Record<string, string>;
}

/** Every object in a response body (objects, list items, table rows, watch events). */
function servedObjects(value: unknown, out: Served[] = []): Served[] {
  if (Array.isArray(value)) {
    for (const v of value) servedObjects(v, out);
  } else if (value && typeof value === 'object') {
    const o = value as { apiVersion?: string; kind?: string; metadata?: { name?: unknown; namespace?: unknown; annotations?: Record<string, string> } };
    if (o.metadata && typeof o.metadata.name === 'string' && o.kind !== 'Status') {
      out.push({ apiVersion: o.apiVersion, kind: o.kind, ns: typeof o.metadata.namespace === 'string' ? o.metadata.namespace : '', name: o.metadata.name, annotations: o.metadata.annotations ?? {} });
    }
    for (const v of Object.values(value)) servedObjects(v, out);
  }
  return out;
}

/** The fixture ids (`plural/ns/name`) a body's text carries, whatever its shape. */
const fixtureIds = (text: string) => [...text.matchAll(/"matrix\.mortise\.io\/id":"([^"]+)"/g)].map((m) => m[1]!);

describe('security: every route serves exactly what was authorized', () => {
  let t: TestCore;
  const tokens = {} as Record<Principal, string>;
  let kinds: Kind[] = [];
  let tick = 0;
  const counts = { requests: 0, watches: 0, denied: 0, carried: 0 };

  const post = async (path: string, json: unknown) => {
    const res = await t.api(path, { method: 'POST', json });
    expect(res.status, `POST ${path}: ${await res.clone().text()}`).toBe(201);
  };
  const collectionPath = (k: Kind, ns: string, watchPrefix = false) =>
    `/${k.groupVersion === 'v1' ? 'api/v1' : `apis/${k.groupVersion}`}${watchPrefix ? '/watch' : ''}${ns ? `/namespaces/${ns}` : ''}/${k.plural}`;

  /** A minimal valid object of each kind; a kind in discovery without one fails the test. */
  const fixtureBody = (k: Kind, ns: string, name: string): Record<string, unknown> | undefined => {
    const id = `${k.plural}/${ns}/${name}`;
    const metadata = { name, annotations: { [idAnnotation]: id } };
    const ws = (n: string) => ({ ...metadata, labels: { 'tenant.mortise.io/workspace': n } });
    const roleRef = (kind: string) => ({ apiGroup: 'iam.mortise.io', kind, name });
    const local = 'http://127.0.0.1:9';
    const bodies: Record<string, () => Record<string, unknown>> = {
      // Namespace mx-mine is in workspace mx-mine.
      namespaces: () => ({ metadata: name === MINE ? ws(MINE) : metadata }),
      customresourcedefinitions: () => {
        const [plural, scope] = name === crdMine ? ['mxmines', 'Namespaced'] : ['mxothers', 'Cluster'];
        const kind = plural === 'mxmines' ? 'MxMine' : 'MxOther';
        return {
          metadata, spec: {
            group: mx, scope, names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
            versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } }, status: { type: 'object', properties: { ready: { type: 'boolean' } } } } } } }],
          },
        };
      },
      mxmines: () => ({ metadata, spec: { size: 1 } }),
      mxothers: () => ({ metadata, spec: { size: 1 } }),
      repositories: () => ({ metadata, spec: { url: local, interval: '24h' } }),
      categories: () => ({ metadata, spec: {} }),
      extensions: () => ({ metadata, spec: {} }),
      extensionversions: () => ({ metadata, spec: { extension: 'mx-absent', version: '1.0.0' } }),
      installplans: () => ({ metadata, spec: { extension: { name, version: '1.0.0' }, enabled: false } }),
      jsbundles: () => ({ metadata, spec: { remoteEntry: `/proxy/${name}/remoteEntry.js`, enabled: false } }),
      apiservices: () => ({ metadata, spec: { group: `${name}.matrix.invalid`, version: 'v1', url: local, enabled: false } }),
      reverseproxies: () => ({ metadata, spec: { matcher: { path: `/proxy/${name}/` }, upstream: { url: local }, enabled: false } }),
      admissionwebhooks: () => ({ metadata, spec: { extension: 'mx-absent', url: local, path: '/validate', enabled: false } }),
      extensionentries: () => ({ metadata, spec: { entries: [] } }),
      users: () => ({ metadata, spec: { email: `${name}@example.com`, password: `${name}-password-1` } }),
      groups: () => ({ metadata, spec: {} }),
      groupbindings: () => ({ metadata, groupRef: { name }, users: [] }),
      globalroles: () => ({ metadata, rules: [] }),
      globalrolebindings: () => ({ metadata, roleRef: roleRef('GlobalRole'), subjects: [] }),
      workspaceroles: () => ({ metadata: ws(name), rules: [] }),
      workspacerolebindings: () => ({ metadata: ws(name), roleRef: roleRef('WorkspaceRole'), subjects: [] }),
      roles: () => ({ metadata, rules: [] }),
      rolebindings: () => ({ metadata, roleRef: roleRef('Role'), subjects: [] }),
      roletemplates: () => ({ metadata, spec: { rules: [] } }),
      serviceaccounts: () => ({ metadata, spec: {} }),
      // Asking about another subject is not a self-review: only those granted `create` may.
      subjectaccessreviews: () => ({ spec: { user: name, groups: [], resourceAttributes: { verb: 'get', resource: 'users', group: 'iam.mortise.io', name: OTHER } } }),
      workspaces: () => ({ metadata, spec: {} }),
      secrets: () => ({ metadata, stringData: { token: `${name}-token` } }),
      configmaps: () => ({ metadata, data: { setting: name } }),
    };
    return Object.hasOwn(bodies, k.plural) ? bodies[k.plural]!() : undefined;
  };

  async function discover(): Promise<Kind[]> {
    const groupVersions = ['v1'];
    const apis = (await (await t.api('/apis')).json()) as { groups: Array<{ versions: Array<{ groupVersion: string }> }> };
    for (const g of apis.groups) for (const v of g.versions) groupVersions.push(v.groupVersion);
    const out: Kind[] = [];
    for (const gv of groupVersions) {
      const list = (await (await t.api(gv === 'v1' ? '/api/v1' : `/apis/${gv}`)).json()) as { resources: Array<{ name: string; namespaced: boolean; verbs: string[] }> };
      for (const r of list.resources) {
        if (r.name.includes('/')) continue;
        out.push({ groupVersion: gv, plural: r.name, namespaced: r.namespaced, verbs: r.verbs, subresources: list.resources.filter((s) => s.name.startsWith(`${r.name}/`)).map((s) => s.name.split('/')[1]!) });
      }
    }
    return out;
  }

  /** Every fixture: mx-mine and mx-other of each kind, in both namespaces for namespaced kinds. */
  async function createFixtures(only: (k: Kind) => boolean) {
    for (const k of kinds.filter(only)) {
      if (reviewKinds.has(k.plural)) continue;
      for (const ns of k.namespaced ? namespaces : ['']) {
        for (const name of namesOf(k.plural)) {
          if (k.plural === 'namespaces') continue; // made first
          const body = fixtureBody(k, ns, name);
          expect(body, `no fixture for the kind ${k.plural} (add one: every kind is walked)`).toBeDefined();
          await post(collectionPath(k, ns), body);
        }
      }
    }
  }

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true });
    kinds = await discover();
    // Workspaces before what is labelled with them; CRDs before their kinds are discovered.
    await createFixtures((k) => k.plural === 'workspaces' || k.plural === 'customresourcedefinitions');
    const nsKind = kinds.find((k) => k.plural === 'namespaces')!;
    for (const name of namespaces) await post('/api/v1/namespaces', fixtureBody(nsKind, '', name));
    await eventually(async () => (await t.api(`/apis/${mx}/v1/mxothers`)).status === 200 && (await t.api(`/apis/${mx}/v1/namespaces/${MINE}/mxmines`)).status === 200, 10_000, 'the CRD kinds served');
    kinds = await discover();
    await createFixtures((k) => !['namespaces', 'workspaces', 'customresourcedefinitions'].includes(k.plural));

    // The principals, each authorized for exactly one named object.
    for (const who of Object.keys(users) as Principal[]) {
      await post(`${iam}/users`, { metadata: { name: users[who] }, spec: { email: `${users[who]}@example.com`, password: 'matrix-password-1' } });
    }
    const oneName = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'], resourceNames: mineNames }];
    const subject = (who: Principal) => [{ kind: 'User', apiGroup: 'iam.mortise.io', name: users[who] }];
    await post(`${iam}/globalroles`, { metadata: { name: 'mx-grant' }, rules: oneName });
    await post(`${iam}/globalrolebindings`, { metadata: { name: 'mx-grant' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'mx-grant' }, subjects: subject('global') });
    await post(`${iam}/namespaces/${MINE}/roles`, { metadata: { name: 'mx-grant' }, rules: oneName });
    await post(`${iam}/namespaces/${MINE}/rolebindings`, { metadata: { name: 'mx-grant' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'Role', name: 'mx-grant' }, subjects: subject('namespace') });
    await eventually(async () => (await t.api(`${iam}/workspaceroles/${MINE}-viewer`)).status === 200, 10_000, 'the workspace viewer role');
    await post(`${iam}/workspacerolebindings`, { metadata: { name: `${MINE}-ws-viewer`, labels: { 'tenant.mortise.io/workspace': MINE } }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'WorkspaceRole', name: `${MINE}-viewer` }, subjects: subject('workspace') });
    for (const who of Object.keys(users) as Principal[]) tokens[who] = await login(t.url, users[who], 'matrix-password-1');
    // The grants are live (the authorizer's index follows the store).
    await eventually(async () => (await call(t.url, tokens.namespace, `/api/v1/namespaces/${MINE}`)).status === 200, 5000, 'namespace grant');
    await eventually(async () => (await call(t.url, tokens.global, `${iam}/users/${MINE}`)).status === 200, 5000, 'global grant');
    await eventually(async () => (await call(t.url, tokens.workspace, `/api/v1/namespaces/${MINE}`)).status === 200, 5000, 'workspace grant');
  }, 120_000);
  afterAll(async () => t?.close());

  interface Route {
    method: string;
    path: string;
    /** The namespace and name the request is for, as the client meant it. */
    verb: string;
    ns: string;
    name: string;
    sub?: string;
    /** Selects nothing (another namespace's objects): read to the end of the initial events. */
    empty?: boolean;
    body?: unknown;
    accept?: string;
    contentType?: string;
  }

  /** Every route of a kind: collection and named, plain and watched, by path and by selector. */
  function routesOf(k: Kind): Route[] {
    const routes: Route[] = [];
    const names = k.plural === 'users' ? [...namesOf(k.plural), users.self] : namesOf(k.plural);
    // Namespaced kinds: each namespace and all of them; cluster-scoped ones: the cluster, and a
    // namespaced path that must not reach them (except a Namespace's own).
    const scopes = k.namespaced ? [...namespaces, ''] : ['', MINE];
    const dry = 'dryRun=All';
    const sel = (n: string) => `fieldSelector=metadata.name%3D${n}`;
    for (const ns of scopes) {
      const base = collectionPath(k, ns);
      const watchBase = collectionPath(k, ns, true);
      const add = (r: Omit<Route, 'ns'> & { ns?: string }) => routes.push({ ns, ...r });
      add({ method: 'GET', path: base, verb: 'list', name: '' });
      add({ method: 'GET', path: base, verb: 'list', name: '', accept: tableAccept });
      add({ method: 'GET', path: `${base}?watch=1`, verb: 'watch', name: '' });
      add({ method: 'GET', path: `${base}?watch=true`, verb: 'watch', name: '' });
      add({ method: 'GET', path: watchBase, verb: 'watch', name: '' });
      if (k.namespaced && ns) {
        const elsewhere = namespaces.find((n) => n !== ns)!;
        add({ method: 'GET', path: `${base}?fieldSelector=metadata.namespace%3D${elsewhere}`, verb: 'list', name: '' });
        add({ method: 'GET', path: `${base}?watch=1&sendInitialEvents=true&fieldSelector=metadata.namespace%3D${elsewhere}`, verb: 'watch', name: '', empty: true });
      }
      add({ method: 'POST', path: `${base}?${dry}`, verb: 'create', name: '', body: reviewKinds.has(k.plural) ? reviewBody(k.plural) : fixtureBody(k, ns, 'mx-new') ?? {} });
      add({ method: 'DELETE', path: `${base}?${dry}`, verb: 'deletecollection', name: '' });
      for (const name of names) {
        add({ method: 'GET', path: `${base}?${sel(name)}`, verb: 'list', name });
        add({ method: 'GET', path: `${base}?${sel(name)}&labelSelector=${encodeURIComponent(`${mx}/none!=x`)}`, verb: 'list', name });
        add({ method: 'GET', path: `${base}?${sel(name)}&watch=true`, verb: 'watch', name });
        add({ method: 'GET', path: `${base}?${sel(name)}&watch=1`, verb: 'watch', name, accept: tableAccept });
        add({ method: 'GET', path: `${watchBase}?${sel(name)}`, verb: 'watch', name });
        add({ method: 'GET', path: `${base}?fieldSelector=metadata.name%3D%3D${name}%2Cmetadata.namespace!%3Dnone&watch=1`, verb: 'watch', name });
        // deletecollection takes no name from a selector (as Kubernetes): never a grant for one name.
        add({ method: 'DELETE', path: `${base}?${sel(name)}&${dry}`, verb: 'deletecollection', name: '' });
        const item = `${base}/${name}`;
        add({ method: 'GET', path: item, verb: 'get', name });
        add({ method: 'GET', path: item, verb: 'get', name, accept: tableAccept });
        add({ method: 'GET', path: `${item}?watch=1`, verb: 'watch', name });
        add({ method: 'GET', path: `${item}?watch=true`, verb: 'watch', name });
        add({ method: 'GET', path: `${watchBase}/${name}`, verb: 'watch', name });
        add({ method: 'GET', path: `${item}?watch=1`, verb: 'watch', name, accept: tableAccept });
        // A selector that disagrees with the path's name is refused, never widened.
        add({ method: 'GET', path: `${item}?watch=1&${sel(names.find((n) => n !== name)!)}`, verb: 'watch', name });
        add({ method: 'PATCH', path: `${item}?${dry}`, verb: 'patch', name, body: { metadata: { labels: { [`${mx}/patched`]: 'yes' } } }, contentType: 'application/merge-patch+json' });
        add({ method: 'PUT', path: `${item}?${dry}`, verb: 'update', name, body: fixtureBody(k, ns, name) ?? {} });
        add({ method: 'DELETE', path: `${item}?${dry}`, verb: 'delete', name });
        add({ method: 'POST', path: item, verb: 'create', name });
        for (const sub of k.subresources) {
          add({ method: 'GET', path: `${item}/${sub}`, verb: 'get', name, sub });
          add({ method: 'GET', path: `${item}/${sub}?watch=1`, verb: 'watch', name, sub });
          add({ method: 'PATCH', path: `${item}/${sub}?${dry}`, verb: 'patch', name, sub, body: { metadata: { labels: { [`${mx}/patched`]: 'yes' } } }, contentType: 'application/merge-patch+json' });
        }
      }
    }
    return routes;
  }

  const reviewBody = (plural: string) => plural === 'selfsubjectaccessreviews'
    ? { spec: { resourceAttributes: { verb: 'get', resource: 'users', group: 'iam.mortise.io', name: OTHER } } }
    : { spec: { namespace: OTHER } };

  /** The object a watch in this scope is sure to carry: touched after the decoy, it ends the read. */
  function sentinel(k: Kind, who: Principal, r: Route): { ns: string; name: string; decoy?: { ns: string; name: string } } {
    const ns = k.plural === 'namespaces' ? '' : (r.ns || (k.namespaced ? MINE : ''));
    const name = r.name || (k.plural === 'namespaces' && r.ns ? r.ns : who === 'self' && k.plural === 'users' ? users.self : namesOf(k.plural)[0]!);
    const other = namesOf(k.plural).find((n) => n !== name)!;
    const decoy = r.name || (k.plural === 'namespaces' && r.ns) ? { ns, name: other } : r.ns ? { ns: namespaces.find((n) => n !== r.ns)!, name } : undefined;
    return { ns, name, decoy };
  }

  const touch = async (k: Kind, ns: string, name: string, value: string) => {
    const res = await t.api(`${collectionPath(k, ns)}/${name}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { metadata: { annotations: { [tickAnnotation]: value } } } });
    expect(res.status, `touch ${k.plural} ${ns}/${name}: ${await res.clone().text()}`).toBe(200);
  };

  /**
   * Sends one request as `who`; a watch is read until the sentinel object's touch arrives (every
   * event before it, initial and live, is checked), so no read depends on timing.
   */
  async function send(k: Kind, who: Principal, r: Route): Promise<{ status: number; text: string; sawSentinel?: boolean }> {
    counts.requests++;
    const headers: Record<string, string> = {};
    if (r.accept) headers.accept = r.accept;
    if (r.contentType) headers['content-type'] = r.contentType;
    const isWatch = r.method === 'GET' && (/[?&]watch=(1|true)\b/.test(r.path) || /\/watch\//.test(r.path));
    const path = isWatch ? `${r.path}${r.path.includes('?') ? '&' : '?'}timeoutSeconds=20` : r.path;
    const abort = new AbortController();
    const res = await call(t.url, tokens[who], path, { method: r.method, headers, signal: abort.signal, ...(r.body !== undefined ? { json: r.body } : {}) });
    if (!isWatch || res.status !== 200) return { status: res.status, text: await res.text() };
    counts.watches++;
    if (r.empty) return { status: res.status, text: await readUntil(res, abort, (e) => e.type === 'BOOKMARK' && e.object?.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true') };
    const s = sentinel(k, who, r);
    const value = `t${++tick}`;
    if (s.decoy) await touch(k, s.decoy.ns, s.decoy.name, value);
    await touch(k, s.ns, s.name, value);
    let sawSentinel = false;
    const text = await readUntil(res, abort, (e) => (sawSentinel = servedObjects(e).some((o) => o.name === s.name && o.ns === s.ns && o.annotations[tickAnnotation] === value)));
    return { status: res.status, text, sawSentinel };
  }

  type WatchEvent = { type: string; object?: { metadata?: { annotations?: Record<string, string> } } };
  /** Reads a watch stream until an event satisfies `last` (or the stream ends); all of it. */
  async function readUntil(res: Response, abort: AbortController, last: (e: WatchEvent) => boolean): Promise<string> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let checked = 0;
    for (;;) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      text += decoder.decode(chunk, { stream: true });
      const lines = text.split('\n').slice(0, -1);
      if (lines.slice(checked).some((l) => last(JSON.parse(l) as WatchEvent))) break;
      checked = lines.length;
    }
    abort.abort();
    return text;
  }

  /** The checks of one response: denial where no grant holds, and nothing served beyond the grant. */
  function check(k: Kind, who: Principal, r: Route, res: { status: number; text: string; sawSentinel?: boolean }) {
    const what = `${who}: ${r.method} ${r.path}${r.accept ? ' (table)' : ''} -> ${res.status} ${res.text.slice(0, 300)}`;
    const allowed = granted(who, k.plural, r.verb, r.ns, r.name, r.sub);
    if (!allowed) {
      counts.denied++;
      expect(res.status, what).toBe(403);
      expect(JSON.parse(res.text), what).toMatchObject({ kind: 'Status', code: 403, reason: 'Forbidden' });
      return;
    }
    expect(res.status, what).not.toBe(403);
    expect(res.status, what).toBeLessThan(500);
    const lines = r.verb === 'watch' && res.status === 200 ? res.text.split('\n').filter((l) => l.trim()) : [res.text];
    for (const line of lines) {
      const served = servedObjects(JSON.parse(line));
      for (const o of served) {
        if (reviewKinds.has(k.plural)) continue;
        expect(readable(who, k.plural, o.ns, o.name), `${what}\n  serves ${o.ns}/${o.name}, which ${who} may not read`).toBe(true);
        // Within what the request named: its namespace (a Namespace is its own) and its name.
        if (r.name) expect(o.name, what).toBe(r.name);
        if (r.ns) expect(k.plural === 'namespaces' ? o.name : o.ns, what).toBe(r.ns);
      }
      for (const id of fixtureIds(line)) {
        const [plural, ns, name] = id.split('/') as [string, string, string];
        expect(plural, what).toBe(k.plural);
        expect(readable(who, plural, ns, name), `${what}\n  carries the fixture ${id}`).toBe(true);
      }
    }
    if (r.verb === 'watch' && res.status === 200 && !r.empty) expect(res.sawSentinel, `${what}\n  the watch never delivered its own object`).toBe(true);
  }

  it('walks every kind in discovery, core and CRD-defined, namespaced and cluster-scoped', () => {
    const plurals = kinds.map((k) => k.plural);
    expect(plurals).toEqual(expect.arrayContaining(['namespaces', 'users', 'roles', 'workspaces', 'mxmines', 'mxothers']));
    expect(kinds.some((k) => k.namespaced) && kinds.some((k) => !k.namespaced)).toBe(true);
    for (const k of kinds) {
      if (!reviewKinds.has(k.plural)) expect(fixtureBody(k, '', MINE), `no fixture for the kind ${k.plural} (add one: every kind is walked)`).toBeDefined();
    }
  });

  for (const who of Object.keys(users) as Principal[]) {
    it(`as a user granted one object (${who}): 403 beyond the grant, and only the granted object served`, async () => {
      for (const k of kinds) {
        for (const r of routesOf(k)) check(k, who, r, await send(k, who, r));
      }
      // The grant is usable: each principal was served its object through a get, a list and a watch.
      const own = who === 'self' ? { k: 'users', ns: '', name: users.self } : { k: 'roles', ns: MINE, name: MINE };
      const kind = kinds.find((x) => x.plural === own.k)!;
      const base = collectionPath(kind, own.ns);
      for (const path of [`${base}/${own.name}`, `${base}?fieldSelector=metadata.name%3D${own.name}`]) {
        const body = (await (await call(t.url, tokens[who], path)).json()) as { metadata?: { name?: string }; items?: Array<{ metadata: { name: string } }> };
        expect(body.metadata?.name ?? body.items?.map((i) => i.metadata.name).join(), path).toBe(own.name);
      }
    }, 600_000);
  }

  // The rest of the route inventory (the router's own routes: /kapis workspace views, user
  // accounts, audit, discovery, ...), walked as the anonymous-access test in auth.test.ts walks it:
  // every GET, plain, watched and name-selected, with the fixtures' names for its parameters.
  // Only reads: a write here could remove the fixtures the kind walk needs.
  for (const who of Object.keys(users) as Principal[]) {
    it(`as a user granted one object (${who}): no other route carries an object beyond the grant`, async () => {
      const samples = { group: ['tenant.mortise.io', 'iam.mortise.io', 'extensions.mortise.io', 'audit.mortise.io'], version: ['v1alpha1'], ws: namespaces, name: [...namespaces, users.self] };
      let walked = 0;
      for (const layer of routerLayers(t.core)) {
        // The resource API is the kind walk above.
        if (!layer.methods.includes('GET') || layer.path.includes('{*rest}')) continue;
        for (const path of concretePaths(layer.path, samples, () => [])) {
          for (const query of ['', '?watch=1', `?fieldSelector=metadata.name%3D${MINE}`, `?watch=true&fieldSelector=metadata.name%3D${OTHER}`]) {
            const res = await call(t.url, tokens[who], `${path}${query}`, { signal: AbortSignal.timeout(20_000) });
            const text = await res.text();
            walked++;
            expect(res.status, `${who}: GET ${path}${query} -> ${res.status} ${text.slice(0, 300)}`).toBeLessThan(500);
            for (const id of fixtureIds(text)) {
              const [plural, ns, name] = id.split('/') as [string, string, string];
              expect(readable(who, plural, ns, name) || memberOf(who, plural, name), `${who}: GET ${path}${query} carries the fixture ${id}`).toBe(true);
              counts.carried++;
            }
          }
        }
      }
      counts.requests += walked;
      expect(walked).toBeGreaterThan(100);
    }, 300_000);
  }

  it('counted what it walked', () => {
    // Reported so a shrinking inventory shows; the three principals each walked every route.
    expect(counts.requests).toBeGreaterThan(3000);
    expect(counts.watches).toBeGreaterThan(100);
    expect(counts.denied).toBeGreaterThan(1000);
    // The router's routes served some fixture to whom it was granted (the walk reached them).
    expect(counts.carried).toBeGreaterThan(0);
  });
});
