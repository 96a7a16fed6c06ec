import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExtensionBackend, type ExtensionBackend, type RunningBackend } from '@mortise/extension-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, startTestCore, type TestCore } from './support/test-core.js';
import { readInBackground, type OpenStream } from './support/streams.js';
import { tenantsOf } from './support/tenants.js';
import { freePort } from './support/child-core.js';

// Security: a proxied answer that stays open (server-sent events, a followed log) is authorized
// when it starts and again whenever what authorized it changes (a binding, the user, the session),
// as open watches and websocket tunnels are. One no longer allowed is cut: the client sees its end
// and the backend sees its request aborted. One still allowed keeps streaming. Through the native
// edge too, which hands event streams and followed logs to the core and asks the core again about
// a stream it forwards itself (docs/edge.md).

const iam = '/apis/iam.mortise.io/v1alpha1';
const ext = '/apis/extensions.mortise.io/v1alpha1';
const ns = 'st-ns';
const logs = `/kapis/tail.example.io/v1/namespaces/${ns}/logs`;

/** The backend's side of one stream: whom it was for, and whether its request went before the answer ended. */
interface Served {
  user: string;
  ticks: number;
  aborted?: boolean;
}


for (const via of ['core', 'edge'] as const) describe(`an open proxied stream is cut when its authorization is revoked (clients of the ${via})`, () => {
  let t: TestCore;
  let client = '';
  let backend: ExtensionBackend;
  let running: RunningBackend;
  const { tokens, created, addUsers } = tenantsOf(() => t);
  const served = new Map<string, Served>();
  const streams: OpenStream[] = [];

  const bind = (u: string) => created(`${iam}/namespaces/${ns}/rolebindings`, { metadata: { name: `${u}-logs` }, roleRef: { kind: 'Role', name: 'log-reader' }, subjects: [{ kind: 'User', name: u }] });
  const allowed = (u: string, path = logs) => eventually(async () => (await call(client, tokens[u], `${path}?id=probe-${u}`)).status === 200, 5000, `${u}'s binding in force`);

  /** Opens a stream as `u` (the backend knows it by `id`) and reads it in the background. */
  async function open(u: string, id: string, query: string, accept: string, path = logs): Promise<OpenStream> {
    const ac = new AbortController();
    const res = await call(client, tokens[u], `${path}?id=${id}&${query}`, { signal: ac.signal, headers: { accept } });
    expect(res.status, res.status === 200 ? '' : await res.clone().text()).toBe(200);
    const s = readInBackground(res, ac);
    streams.push(s);
    await eventually(() => s.text().includes('tick 1'), 3000, `${id}'s first ticks`);
    return s;
  }

  /** The stream ends for the client, and the backend saw its request aborted, within a few seconds. */
  async function expectCut(s: OpenStream, id: string) {
    await eventually(() => s.ended(), 3000, `${id} to end for the client`);
    await eventually(() => served.get(id)!.aborted === true, 3000, `${id}'s backend request to be aborted`);
  }

  beforeAll(async () => {
    t = await startTestCore({ inMemory: true, ...(via === 'edge' ? { edge: { listen: String(await freePort()) } } : {}) });
    client = via === 'edge' ? t.core.edgeUrl! : t.url;
    backend = createExtensionBackend({ name: 'tail', coreUrl: t.url, handleSignals: false });
    // A log tail: a tick every 50 ms for as long as the client stays (event stream or plain text).
    backend.router.get('/kapis/tail.example.io/v1/namespaces/:ns/logs', (ctx) => {
      const id = ctx.query.id as string;
      const sse = String(ctx.get('accept')).includes('text/event-stream');
      const record: Served = { user: ctx.state.identity.username, ticks: 0 };
      served.set(id, record);
      if (id.startsWith('probe-')) {
        ctx.body = 'ok';
        return;
      }
      ctx.respond = false;
      const res = ctx.res;
      // A slow answer takes its time and then comes whole (no stream, nothing sent before it); a
      // quiet stream sends its first tick and then nothing; the others tick every 50 ms.
      const quiet = ctx.query.quiet !== undefined;
      const timer = ctx.query.slow !== undefined
        ? setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('done\n'), 10_000)
        : (res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'text/plain', 'cache-control': 'no-cache' }), setInterval(() => {
          if (quiet && record.ticks > 0) return;
          record.ticks++;
          res.write(sse ? `data: tick ${record.ticks}\n\n` : `tick ${record.ticks}\n`);
        }, 50));
      res.once('close', () => {
        clearTimeout(timer);
        record.aborted = !res.writableEnded;
      });
    });
    running = await backend.listen(0, '127.0.0.1');
    await created(`${ext}/apiservices`, {
      apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'APIService',
      metadata: { name: 'v1.tail.example.io', labels: { 'extensions.mortise.io/extension': 'tail' } }, spec: { group: 'tail.example.io', version: 'v1', url: running.url },
    });
    // The same tail under a ReverseProxy prefix: a non-resource URL to the authorizer.
    await created(`${ext}/reverseproxies`, {
      apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name: 'tail', labels: { 'extensions.mortise.io/extension': 'tail' } },
      spec: { matcher: { path: '/proxy/tail/' }, upstream: { url: running.url }, directives: { stripPathPrefix: '/proxy/tail' } },
    });
    await created('/api/v1/namespaces', { metadata: { name: ns } });
    await created(`${iam}/namespaces/${ns}/roles`, { metadata: { name: 'log-reader' }, rules: [{ apiGroups: ['tail.example.io'], resources: ['logs'], verbs: ['get', 'list'] }] });
    await addUsers('alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hana', 'ivan', 'jade');
    for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hana', 'ivan', 'jade']) await bind(u);
  });

  afterAll(async () => {
    for (const s of streams) s.abort();
    await running?.close();
    await t?.close();
    rmSync(join(tmpdir(), 'mortise-tail-data'), { recursive: true, force: true });
  });

  it('a RoleBinding deleted: the event stream is cut; one whose caller keeps their rights stays open across RBAC changes', async () => {
    await allowed('alice');
    await allowed('bob');
    const alice = await open('alice', 'sse-alice', 'x=1', 'text/event-stream');
    const bob = await open('bob', 'sse-bob', 'x=1', 'text/event-stream');
    expect(served.get('sse-alice')!.user).toBe('alice');

    // A change unrelated to either: both are authorized again, and both stay open.
    await created(`${iam}/globalroles`, { metadata: { name: 'unrelated' }, rules: [] });
    const before = served.get('sse-alice')!.ticks;
    await eventually(() => served.get('sse-alice')!.ticks > before + 10, 3000, 'more ticks after the unrelated change');
    expect(alice.ended() || bob.ended()).toBe(false);
    expect(served.get('sse-alice')!.aborted).toBeUndefined();

    expect((await t.api(`${iam}/namespaces/${ns}/rolebindings/alice-logs`, { method: 'DELETE' })).status).toBe(200);
    await expectCut(alice, 'sse-alice');
    // Bob's rights did not change: his stream goes on, and gets what the backend sends after.
    const bobTicks = served.get('sse-bob')!.ticks;
    await eventually(() => bob.text().includes(`tick ${bobTicks + 5}\n`), 3000, 'bob still streaming');
    expect(bob.ended()).toBe(false);
    // And a new stream is refused.
    expect((await call(client, tokens.alice, `${logs}?id=again&x=1`, { headers: { accept: 'text/event-stream' } })).status).toBe(403);
  });

  it('the session ended (RFC 7009 revocation of its refresh token): the followed log its access token opened is cut', async () => {
    const grant = await fetch(`${t.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'password', username: 'carol', password: 'carol-Password-9x' }) });
    const session = (await grant.json()) as { access_token: string; refresh_token: string };
    tokens.carolSession = session.access_token;
    await allowed('carolSession');
    const s = await open('carolSession', 'follow-carol', 'follow=true', 'text/plain');
    const revoked = await fetch(`${t.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: session.refresh_token, token_type_hint: 'refresh_token' }) });
    expect(revoked.status).toBe(200);
    await expectCut(s, 'follow-carol');
    expect((await call(client, tokens.carolSession, `${logs}?id=again-carol&follow=true`)).status).toBe(401);
  });

  it('a GlobalRoleBinding deleted: the event stream through a ReverseProxy path is cut', async () => {
    const proxied = `/proxy/tail${logs}`;
    await created(`${iam}/globalroles`, { metadata: { name: 'tail-proxy' }, rules: [{ nonResourceURLs: ['/proxy/tail/*'], verbs: ['get'] }] });
    await created(`${iam}/globalrolebindings`, { metadata: { name: 'erin-tail' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'tail-proxy' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'erin' }] });
    await allowed('erin', proxied);
    const s = await open('erin', 'proxy-erin', 'x=1', 'text/event-stream', proxied);
    expect(served.get('proxy-erin')!.user).toBe('erin');
    expect((await t.api(`${iam}/globalrolebindings/erin-tail`, { method: 'DELETE' })).status).toBe(200);
    await expectCut(s, 'proxy-erin');
    expect((await call(client, tokens.erin, `${proxied}?id=again-erin`, { headers: { accept: 'text/event-stream' } })).status).toBe(403);
  });

  it('a stream without the markers (a plain GET the backend keeps open) is cut as well, the edge forwarding it itself; one still allowed goes on', async () => {
    const edgeDecided = async () => {
      const text = await t.core.metrics.registry.getSingleMetricAsString('mortise_edge_decisions_total').catch(() => '');
      return Number(/answer="edge"} (\d+)/.exec(text ?? '')?.[1] ?? 0);
    };
    await allowed('frank');
    await allowed('gina');
    const decided = await edgeDecided();
    const frank = await open('frank', 'plain-frank', 'x=1', '*/*');
    const gina = await open('gina', 'plain-gina', 'x=1', '*/*');
    expect(served.get('plain-frank')!.user).toBe('frank');
    // Through the edge, nginx forwards these two itself: the core decided each once for it.
    if (via === 'edge') expect(await edgeDecided()).toBe(decided + 2);

    // A change unrelated to either: both are asked about again, and both go on.
    await created(`${iam}/globalroles`, { metadata: { name: 'unrelated-plain' }, rules: [] });
    const before = served.get('plain-frank')!.ticks;
    await eventually(() => served.get('plain-frank')!.ticks > before + 10, 3000, 'more ticks after the unrelated change');
    expect(frank.text()).toContain(`tick ${before + 5}\n`);
    expect(frank.ended() || gina.ended()).toBe(false);

    expect((await t.api(`${iam}/namespaces/${ns}/rolebindings/frank-logs`, { method: 'DELETE' })).status).toBe(200);
    await expectCut(frank, 'plain-frank');
    const ginaTicks = served.get('plain-gina')!.ticks;
    await eventually(() => gina.text().includes(`tick ${ginaTicks + 5}\n`), 3000, 'gina still streaming');
    expect(gina.ended()).toBe(false);
    expect((await call(client, tokens.frank, `${logs}?id=again-frank&x=1`)).status).toBe(403);
  });

  // The edge's nginx watches the answers it forwards, not only their writes: one that has gone quiet
  // is cut too (at its next write, or at the response timeout, it would have been too late).
  it('a quiet stream (nothing sent since its first line) is cut as well', async () => {
    await allowed('ivan');
    const s = await open('ivan', 'quiet-ivan', 'quiet=1', '*/*');
    await new Promise((r) => setTimeout(r, 200));
    expect(served.get('quiet-ivan')!.ticks).toBe(1);
    expect(s.ended()).toBe(false);
    expect((await t.api(`${iam}/namespaces/${ns}/rolebindings/ivan-logs`, { method: 'DELETE' })).status).toBe(200);
    await expectCut(s, 'quiet-ivan');
  });

  // Every proxied request stays authorized while it is answered, not only streams (the core's
  // gateway registers each as an open grant; the edge's watch looks at each it forwards).
  it('an answer still being made when its caller loses access is cut too', async () => {
    await allowed('jade');
    const outcome = call(client, tokens.jade, `${logs}?id=slow-jade&slow=1`).then((r) => r.text()).then((t) => `answered: ${t}`, () => 'cut');
    await eventually(() => served.has('slow-jade'), 3000, 'the backend to have the request');
    expect((await t.api(`${iam}/namespaces/${ns}/rolebindings/jade-logs`, { method: 'DELETE' })).status).toBe(200);
    expect(await outcome).toBe('cut');
    await eventually(() => served.get('slow-jade')!.aborted === true, 3000, "slow-jade's backend request to be aborted");
  });

  // The epoch nginx's workers read is in a page of a file all of them map, kept across reloads:
  // a worker that a reload has retired still serves its open answers, and must see the next epoch.
  if (via === 'edge') it('a stream the edge forwards itself is cut after a reload has retired the nginx worker serving it', async () => {
    const port = new URL(client).port;
    const dir = readdirSync(tmpdir()).filter((d) => d.startsWith('mortise-edge-')).map((d) => join(tmpdir(), d))
      .find((d) => { try { return readFileSync(join(d, 'nginx.conf'), 'utf8').includes(`:${port};`); } catch { return false; } })!;
    const master = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
    const workers = () => readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    await allowed('hana');
    const s = await open('hana', 'plain-hana', 'x=1', '*/*');
    const [serving] = workers();
    // A backend nginx has no upstream for: the core reloads nginx before it answers the create.
    const second = createServer((_req, res) => res.end('second'));
    await new Promise<void>((r) => second.listen(0, '127.0.0.1', () => r()));
    try {
      const { port: secondPort } = second.address() as { port: number };
      await created(`${ext}/reverseproxies`, {
        apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'ReverseProxy', metadata: { name: 'second', labels: { 'extensions.mortise.io/extension': 'tail' } },
        spec: { matcher: { path: '/proxy/second/' }, upstream: { url: `http://127.0.0.1:${secondPort}` } },
      });
      await eventually(() => readFileSync(join(dir, 'nginx.conf'), 'utf8').includes(`127.0.0.1:${secondPort}`) && !workers().every((w) => w === serving), 5000, 'a reload with new workers');
      // The old worker still serves the stream.
      const ticks = served.get('plain-hana')!.ticks;
      await eventually(() => s.text().includes(`tick ${ticks + 3}\n`), 3000, 'hana still streaming after the reload');
      expect(s.ended()).toBe(false);
      // The retired worker has its request decided again at a change, as any: one unrelated lets it go on.
      await created(`${iam}/globalroles`, { metadata: { name: 'unrelated-retired' }, rules: [] });
      const later = served.get('plain-hana')!.ticks;
      await eventually(() => s.text().includes(`tick ${later + 10}\n`), 3000, 'hana still streaming after an unrelated change');
      expect(s.ended()).toBe(false);
      expect((await t.api(`${iam}/namespaces/${ns}/rolebindings/hana-logs`, { method: 'DELETE' })).status).toBe(200);
      await expectCut(s, 'plain-hana');
    } finally {
      await new Promise<void>((r) => second.close(() => r()));
    }
  });

  it('the user disabled: the event stream is cut (asked for in capitals: media types are case-insensitive)', async () => {
    await allowed('dave');
    const s = await open('dave', 'sse-dave', 'x=1', 'Text/Event-Stream');
    const res = await t.api(`${iam}/users/dave/status`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { status: { state: 'Disabled' } } });
    expect(res.status).toBe(200);
    await expectCut(s, 'sse-dave');
  });
});
