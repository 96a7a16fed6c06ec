import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../../core/src/ops/logger.js';
import { call, eventually, login, startTestCore, workspace, type TestCore } from '../../../core/test/support/test-core.js';

// The DevOps extension end to end through a real core: installed from its package like any
// extension, pipelines run in bubblewrap, a local bare git repository, an approval by a second
// user, artifacts, live logs over SSE through the gateway, the signed webhook.

const extensionsDir = join(import.meta.dirname, '..', '..');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';
const devops = '/apis/devops.mortise.io/v1alpha1/namespaces/ci';
const kapi = '/kapis/devops.mortise.io/v1alpha1';
const secretValue = 'tok-8c1f-very-secret';
const projects = '/apis/devops.mortise.io/v1alpha1/devopsprojects';
const mergePatch = { 'content-type': 'application/merge-patch+json' };
type Pipeline = { status?: { lastScheduleTime?: string; cron?: { valid: boolean; message?: string; nextScheduleTime?: string } } };

interface LogEvent { id: number; stage?: string; step?: string; kind: string; text: string }
interface Run { metadata: { name: string }; status?: { phase?: string; message?: string; triggeredBy?: string; artifacts?: Array<{ name: string }>; stages?: Array<{ name: string; phase: string; branches: Array<{ steps: Array<{ name: string; phase: string; approvedBy?: string }> }> }> } }

/** Reads an SSE stream until `end` (or `stop` says so); returns the log events in order. */
async function follow(url: string, token: string, lastEventId?: number, stop?: (events: LogEvent[]) => boolean): Promise<LogEvent[]> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, ...(lastEventId ? { 'last-event-id': String(lastEventId) } : {}) }, signal: ac.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: LogEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1] ?? '{}';
        if (event === 'end') return events;
        if (event === 'log') events.push(JSON.parse(data) as LogEvent);
      }
      if (stop?.(events)) {
        ac.abort();
        return events;
      }
    }
  } catch (e) {
    if ((e as Error).name !== 'AbortError') throw e;
  }
  return events;
}

/** Pids of processes whose command line is exactly `cmd` (steps of this test). */
function stepProcesses(cmd: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') === cmd) out.push(pid);
    } catch {
      // gone already
    }
  }
  return out;
}

describe('DevOps extension', () => {
  let t: TestCore;
  let work: string;
  let bob: string;
  let vic: string;
  let allowedGit = '';
  let loopbackGit = '';
  const gitServers: Server[] = [];
  const gitRequests: string[] = [];
  const run = (name: string) => t.api(`${devops}/pipelineruns/${name}`).then((r) => r.json() as Promise<Run>);
  const waitRun = (name: string, phases: string[], timeoutMs = 30_000) =>
    eventually(async () => {
      const r = await run(name);
      return phases.includes(r.status?.phase ?? '') ? r : undefined;
    }, timeoutMs, `run ${name} to be ${phases.join('/')}`);
  const startRun = async (pipeline: string, token = t.token, parameters: Record<string, string> = {}) => {
    const res = await call(t.url, token, `${kapi}/namespaces/ci/pipelines/${pipeline}/run`, { method: 'POST', json: { parameters } });
    return { status: res.status, body: (await res.json()) as Run };
  };
  const pipeline = async (name: string, spec: Record<string, unknown>) => {
    const res = await t.api(`${devops}/pipelines`, { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name }, spec } });
    expect(res.status, await res.clone().text()).toBe(201);
    return res;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mortise-devops-'));
    // A local bare repository, as a git host would serve it.
    const src = join(work, 'git', 'src');
    execFileSync('git', ['init', '-q', '-b', 'main', src]);
    writeFileSync(join(src, 'hello.txt'), 'hello from git\n');
    execFileSync('git', ['-C', src, 'add', '.']);
    execFileSync('git', ['-C', src, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'first']);
    execFileSync('git', ['clone', '-q', '--bare', src, join(work, 'git', 'app.git')]);
    // The same repository over git's "dumb" HTTP: on 127.0.0.2, which the config allows, and on
    // 127.0.0.1, which it does not; /moved.git/ on the first redirects to the second.
    execFileSync('git', ['-C', join(work, 'git', 'app.git'), 'update-server-info']);
    const serveGit = (host: string) => new Promise<Server>((resolve) => {
      const server = createServer((req, res) => {
        gitRequests.push(`${host}${req.url}`);
        const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
        if (path.startsWith('/moved.git/')) {
          res.writeHead(302, { location: `${loopbackGit}/app.git/${path.slice('/moved.git/'.length)}` }).end();
          return;
        }
        const file = join(work, 'git', path);
        if (path.includes('..') || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
        res.writeHead(200).end(readFileSync(file));
      });
      gitServers.push(server);
      server.listen(0, host, () => resolve(server));
    });
    allowedGit = `http://127.0.0.2:${((await serveGit('127.0.0.2')).address() as AddressInfo).port}`;
    loopbackGit = `http://127.0.0.1:${((await serveGit('127.0.0.1')).address() as AddressInfo).port}`;

    const repoDir = join(work, 'repository');
    const bundled = await buildBundledRepository([extensionsDir], repoDir, createLogger({ level: 'silent' }));
    expect(bundled.extensions).toContain('devops');
    t = await startTestCore({ backendReadyTimeoutMs: 15_000 });
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${repoDir}` } } })).status).toBe(201);
    await eventually(async () => (await t.api(`${ext}/extensionversions/devops-0.1.0`)).status === 200, 15_000, 'repository synced');
    expect((await t.api(`${ext}/installplans`, {
      method: 'POST', json: { metadata: { name: 'devops' }, spec: { extension: { name: 'devops', version: '0.1.0' }, enabled: true, config: { localGitRoots: [join(work, 'git')], checkoutAllowedHosts: ['127.0.0.2'], maxConcurrentRuns: 2 } } },
    })).status).toBe(201);
    await eventually(async () => ((await (await t.api(`${ext}/installplans/devops`)).json()) as { status?: { state?: string } }).status?.state === 'Installed', 45_000, 'devops installed');

    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'ci' } } })).status).toBe(201);
    expect((await t.api('/api/v1/namespaces/ci/secrets', { method: 'POST', json: { metadata: { name: 'creds' }, stringData: { token: secretValue, hmac: 'hook-key' } } })).status).toBe(201);
    // Roles built from the templates the extension brings: bob views, runs and approves; vic views.
    for (const [user, templateNames] of [['bob', ['devops-pipelines-view', 'devops-pipelines-run', 'devops-pipelines-approve']], ['vic', ['devops-pipelines-view']]] as const) {
      expect((await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: user }, spec: { email: `${user}@example.com`, password: `${user}-password-1` } } })).status).toBe(201);
      expect((await t.api(`${iam}/namespaces/ci/roles`, { method: 'POST', json: { metadata: { name: `${user}-role` }, rules: [], aggregationRoleTemplates: { templateNames } } })).status).toBe(201);
      expect((await t.api(`${iam}/namespaces/ci/rolebindings`, { method: 'POST', json: { metadata: { name: `${user}-binding` }, roleRef: { kind: 'Role', name: `${user}-role` }, subjects: [{ kind: 'User', name: user }] } })).status).toBe(201);
    }
    bob = await login(t.url, 'bob', 'bob-password-1');
    vic = await login(t.url, 'vic', 'vic-password-1');
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    for (const server of gitServers) server.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs from its package: CRDs, a confined sandbox, the webhook listed for the admin', async () => {
    const plan = (await (await t.api(`${ext}/installplans/devops`)).json()) as { status: { webhooks: Array<{ path: string }>; childProcesses: boolean } };
    expect(plan.status.webhooks.map((w) => w.path)).toEqual(['/hooks/devops/']);
    expect(plan.status.childProcesses).toBe(true);
    expect((await t.api('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pipelineruns.devops.mortise.io')).status).toBe(200);
    const templates = (await (await t.api(`${iam}/roletemplates?labelSelector=extensions.mortise.io/extension=devops`)).json()) as { items: Array<{ metadata: { name: string } }> };
    expect(templates.items.map((i) => i.metadata.name).sort()).toEqual(['devops-pipelines-approve', 'devops-pipelines-edit', 'devops-pipelines-run', 'devops-pipelines-view']);
    const sandbox = (await (await t.api(`${kapi}/sandbox`)).json()) as { confined: boolean; reason?: string };
    expect(sandbox, sandbox.reason).toMatchObject({ confined: true });
  });

  it('runs a pipeline: git checkout, parallel steps, an approval by a second user, an artifact, live logs with secrets masked', async () => {
    expect((await pipeline('app', {
      parameters: [{ name: 'TARGET', default: 'staging' }],
      stages: [
        { name: 'checkout', steps: [{ checkout: { url: `file://${join(work, 'git', 'app.git')}`, dir: 'src' } }] },
        {
          name: 'build', parallel: [
            { name: 'a', steps: [{ sh: 'echo branch-a; cat src/hello.txt' }] },
            { name: 'b', steps: [{ sh: 'echo branch-b > b.txt; echo "token=$TOKEN"', secretEnv: [{ name: 'TOKEN', secretRef: { name: 'creds', key: 'token' } }] }] },
          ],
        },
        { name: 'skipped', when: { parameter: 'TARGET', equals: 'production' }, steps: [{ sh: 'echo never' }] },
        { name: 'gate', steps: [{ approval: { approvers: ['bob'], message: 'ship it?' } }] },
        { name: 'package', steps: [{ sh: 'echo "built for $PARAM_TARGET" > out.txt' }, { archive: 'out.txt' }] },
      ],
      post: { always: [{ sh: 'echo post-always' }], success: [{ sh: 'echo post-success' }], failure: [{ sh: 'echo post-failure' }] },
    })).status).toBe(201);
    const started = await startRun('app', t.token, { TARGET: 'qa' });
    expect(started.status).toBe(201);
    const name = started.body.metadata.name;
    const logUrl = `${t.url}${kapi}/namespaces/ci/pipelineruns/${name}/log`;
    // Follow live until the approval is awaited.
    const early = await follow(logUrl, t.token, undefined, (ev) => ev.some((e) => /waits for approval/.test(e.text)));
    expect(early.some((e) => e.text === 'branch-a'), early.map((e) => e.text).join('\n')).toBe(true);
    const waiting = await waitRun(name, ['WaitingForApproval']);
    expect(waiting.status?.triggeredBy).toBe('admin');
    // The admin is not among the approvers; bob is.
    expect((await t.api(`${kapi}/namespaces/ci/pipelineruns/${name}/approve`, { method: 'POST' })).status).toBe(403);
    expect((await call(t.url, vic, `${kapi}/namespaces/ci/pipelineruns/${name}/approve`, { method: 'POST' })).status).toBe(403);
    expect((await call(t.url, bob, `${kapi}/namespaces/ci/pipelineruns/${name}/approve`, { method: 'POST' })).status).toBe(200);
    const done = await waitRun(name, ['Succeeded', 'Failed']);
    expect(done.status?.phase, done.status?.message).toBe('Succeeded');
    const stages = Object.fromEntries(done.status!.stages!.map((s) => [s.name, s.phase]));
    expect(stages).toMatchObject({ checkout: 'Succeeded', build: 'Succeeded', skipped: 'Skipped', gate: 'Succeeded', package: 'Succeeded', post: 'Succeeded' });
    expect(done.status!.stages!.find((s) => s.name === 'gate')!.branches[0]!.steps[0]!.approvedBy).toBe('bob');
    // The whole log, then a reconnect from the middle: exactly the rest, no duplicates.
    const all = await follow(logUrl, vic);
    const texts = all.map((e) => e.text);
    expect(texts).toEqual(expect.arrayContaining(['hello from git', 'branch-a', 'token=****', 'post-always', 'post-success', 'stage build started', 'step a/sh-0 started']));
    expect(texts.join('\n')).not.toContain(secretValue);
    expect(texts).not.toContain('post-failure');
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i + 1));
    const rest = await follow(logUrl, t.token, 5);
    expect(rest.map((e) => e.id)).toEqual(all.slice(5).map((e) => e.id));
    // The artifact.
    const artifact = await t.api(`${kapi}/namespaces/ci/pipelineruns/${name}/artifacts/out.txt`);
    expect(artifact.status).toBe(200);
    expect(await artifact.text()).toBe('built for qa\n');
  });

  it('approves the waiting step the user is an approver of, when parallel branches wait on different approvers', async () => {
    await pipeline('two-gates', { stages: [{ name: 'gates', parallel: [
      { name: 'ops', steps: [{ approval: { approvers: ['admin'] } }] },
      { name: 'release', steps: [{ approval: { approvers: ['bob'] } }] },
    ] }] });
    const name = (await startRun('two-gates')).body.metadata.name;
    await eventually(async () => {
      const r = await run(name);
      return r.status?.stages?.[0]?.branches.every((b) => b.steps[0]!.phase === 'WaitingForApproval') ?? false;
    }, 10_000, 'both branches waiting');
    const approve = (token: string) => call(t.url, token, `${kapi}/namespaces/ci/pipelineruns/${name}/approve`, { method: 'POST' });
    expect((await approve(vic)).status).toBe(403);
    const byBob = await approve(bob);
    expect(byBob.status, await byBob.text()).toBe(200);
    expect((await approve(bob)).status).toBe(403);
    expect((await approve(t.token)).status).toBe(200);
    const done = await waitRun(name, ['Succeeded', 'Failed']);
    expect(done.status?.phase, done.status?.message).toBe('Succeeded');
    expect(done.status!.stages![0]!.branches.map((b) => b.steps[0]!.approvedBy)).toEqual(['admin', 'bob']);
  });

  it('checks out over http only from hosts that are not this machine\'s or link-local (unless allowed), pinned to the address checked, without redirects', async () => {
    const checkout = async (name: string, url: string) => {
      await pipeline(name, { stages: [{ name: 'co', steps: [{ checkout: { url, dir: 'src' } }, { sh: 'cat src/hello.txt' }] }] });
      const { body } = await startRun(name);
      return waitRun(body.metadata.name, ['Succeeded', 'Failed']);
    };
    // A host the administrator allowed (config checkoutAllowedHosts), over git's dumb HTTP.
    const fine = await checkout('co-allowed', `${allowedGit}/app.git`);
    expect(fine.status?.phase, fine.status?.message).toBe('Succeeded');
    expect((await follow(`${t.url}${kapi}/namespaces/ci/pipelineruns/${fine.metadata.name}/log`, t.token)).map((e) => e.text)).toContain('hello from git');
    // This machine (by address and by name) and the cloud's metadata address: refused before git runs.
    const port = new URL(loopbackGit).port;
    for (const [name, url] of [['co-loopback', `${loopbackGit}/app.git`], ['co-localhost', `http://localhost:${port}/app.git`], ['co-mapped', `http://[::ffff:127.0.0.1]:${port}/app.git`], ['co-metadata', 'http://169.254.169.254/latest/meta-data/']] as const) {
      const refused = await checkout(name, url);
      expect(refused.status?.phase, name).toBe('Failed');
      expect(refused.status?.message, name).toMatch(/an address of this machine or a link-local one.*checkoutAllowedHosts/);
    }
    // An allowed host redirecting to a refused one: git does not follow.
    const moved = await checkout('co-moved', `${allowedGit}/moved.git`);
    expect(moved.status?.phase).toBe('Failed');
    expect(gitRequests.filter((r) => r.startsWith('127.0.0.1'))).toEqual([]);
    expect(gitRequests.some((r) => r.startsWith('127.0.0.2/moved.git/'))).toBe(true);
  });

  it('a step cannot read the core\'s database or keys, nor write outside its workspace', async () => {
    expect((await pipeline('snoop', {
      stages: [{ name: 'snoop', steps: [{ sh: `cat '${join(t.dataDir!, 'mortise.db')}' | head -c 100; ls '${t.dataDir}'` }, { sh: 'echo never' }] }],
      post: { always: [{ sh: `touch '${join(work, 'escaped')}' 2>&1 || echo "no write"` }] },
    })).status).toBe(201);
    const { body } = await startRun('snoop');
    const done = await waitRun(body.metadata.name, ['Succeeded', 'Failed']);
    expect(done.status?.phase).toBe('Failed');
    const log = (await follow(`${t.url}${kapi}/namespaces/ci/pipelineruns/${body.metadata.name}/log`, t.token)).map((e) => e.text).join('\n');
    expect(log).toContain('No such file or directory');
    expect(log).not.toContain('SQLite format');
    expect(log).not.toContain('never');
    expect(existsSync(join(work, 'escaped'))).toBe(false);
  });

  it('a webhook with a bad signature is refused; a good one starts a run', async () => {
    expect((await pipeline('hooked', { triggers: { webhook: { secretRef: { name: 'creds', key: 'hmac' } } }, stages: [{ name: 'one', steps: [{ sh: 'echo "ref=$PARAM_GIT_REF"' }] }] })).status).toBe(201);
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'abc123' });
    const sign = (key: string) => `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
    const send = (signature: string | undefined) => call(t.url, undefined, '/hooks/devops/ci/hooked', {
      method: 'POST', body, headers: { 'content-type': 'application/json', 'x-github-event': 'push', ...(signature ? { 'x-hub-signature-256': signature } : {}) },
    });
    expect((await send(sign('wrong-key'))).status).toBe(401);
    expect((await send(undefined)).status).toBe(401);
    // As long as a good one in characters but not in bytes: refused like any other, not a 500.
    expect((await send(`sha256=é${sign('hook-key').slice(8)}`)).status).toBe(401);
    expect((await call(t.url, undefined, '/hooks/devops/ci/nonexistent', { method: 'POST', body, headers: { 'x-hub-signature-256': sign('hook-key') } })).status).toBe(401);
    const good = await send(sign('hook-key'));
    expect(good.status).toBe(201);
    const { run: name } = (await good.json()) as { run: string };
    const done = await waitRun(name, ['Succeeded', 'Failed']);
    expect(done.status?.phase).toBe('Succeeded');
    expect(done.status?.triggeredBy).toBe('webhook (push)');
    const log = (await follow(`${t.url}${kapi}/namespaces/ci/pipelineruns/${name}/log`, t.token)).map((e) => e.text);
    expect(log).toContain('ref=main');
    // The same signed body again (a replay, or the git host's "Redeliver"), three at once: the
    // run it started, not a new one. Another push (another body) starts its own.
    const hookedRuns = async () => ((await (await t.api(`${devops}/pipelineruns`)).json()) as { items: Array<{ metadata: { name: string }; spec: { pipeline: string } }> }).items.filter((r) => r.spec.pipeline === 'hooked').map((r) => r.metadata.name);
    const again = await Promise.all([send(sign('hook-key')), send(sign('hook-key')), send(sign('hook-key'))]);
    expect(again.map((r) => r.status)).toEqual([200, 200, 200]);
    for (const r of again) expect(await r.json()).toEqual({ run: name, duplicate: true });
    expect(await hookedRuns()).toEqual([name]);
    const next = JSON.stringify({ ref: 'refs/heads/main', after: 'def456' });
    const pushed = await call(t.url, undefined, '/hooks/devops/ci/hooked', { method: 'POST', body: next, headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', 'hook-key').update(next).digest('hex')}` } });
    expect(pushed.status).toBe(201);
    expect((await hookedRuns()).sort()).toEqual([name, ((await pushed.json()) as { run: string }).run].sort());
    // Nothing else of the extension is open to anonymous callers.
    expect((await call(t.url, undefined, `${kapi}/namespaces/ci/pipelineruns/${name}/log`)).status).toBe(401);
  });

  it('a run created through the API names its creator or nobody as who started it, and nobody changes that afterwards', async () => {
    await pipeline('attributed', { stages: [{ name: 'one', steps: [{ sh: 'true' }] }] });
    const create = (spec: Record<string, unknown>) => t.api(`${devops}/pipelineruns`, { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'PipelineRun', metadata: { generateName: 'attributed-' }, spec: { pipeline: 'attributed', ...spec } } });
    // Someone else's name (or the backend's wording for a webhook): refused, naming the field.
    for (const triggeredBy of ['bob', 'webhook (push)']) {
      const spoofed = await create({ triggeredBy });
      expect(spoofed.status).toBe(422);
      expect(await spoofed.json()).toMatchObject({ kind: 'Status', reason: 'Invalid', details: { causes: [{ field: 'spec.triggeredBy', message: expect.stringContaining('"admin" or nobody') }] } });
    }
    const own = await create({ triggeredBy: 'admin' });
    expect(own.status).toBe(201);
    const ownName = ((await own.json()) as Run).metadata.name;
    expect((await waitRun(ownName, ['Succeeded', 'Failed'])).status?.triggeredBy).toBe('admin');
    const anonymous = await create({});
    expect(anonymous.status).toBe(201);
    const moved = await t.api(`${devops}/pipelineruns/${((await anonymous.json()) as Run).metadata.name}`, { method: 'PATCH', headers: mergePatch, body: JSON.stringify({ spec: { triggeredBy: 'admin' } }) });
    expect(moved.status).toBe(422);
    expect(await moved.text()).toContain('may not be changed');
  });

  it('a name in the path cannot take the backend into another namespace (an encoded slash and dot segments)', async () => {
    // "other": a namespace bob and vic have no role in, with a run whose log and artifact are its own.
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'other' } } })).status).toBe(201);
    expect((await t.api('/api/v1/namespaces/other/secrets', { method: 'POST', json: { metadata: { name: 'creds' }, stringData: { hmac: 'other-hook-key' } } })).status).toBe(201);
    const otherDevops = '/apis/devops.mortise.io/v1alpha1/namespaces/other';
    expect((await t.api(`${otherDevops}/pipelines`, { method: 'POST', json: {
      apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name: 'private' },
      spec: { triggers: { webhook: { secretRef: { name: 'creds', key: 'hmac' } } }, stages: [{ name: 'one', steps: [{ sh: 'echo other-private-line | tee private.txt' }, { archive: 'private.txt' }] }] },
    } })).status).toBe(201);
    const started = await t.api(`${kapi}/namespaces/other/pipelines/private/run`, { method: 'POST', json: { parameters: {} } });
    expect(started.status).toBe(201);
    const name = ((await started.json()) as Run).metadata.name;
    await eventually(async () => ((await (await t.api(`${otherDevops}/pipelineruns/${name}`)).json()) as Run).status?.phase === 'Succeeded', 30_000, 'the run in other');
    // From ci: a name that, decoded, climbs out of ci into other.
    const into = (path: string) => `x%2F..%2F..%2F..%2Fother%2F${path.replace(/\//g, '%2F')}`;
    const runsBefore = ((await (await t.api(`${devops}/pipelineruns`)).json()) as { items: unknown[] }).items.length;
    for (const [token, path] of [
      [vic, `${kapi}/namespaces/ci/pipelineruns/${into(`pipelineruns/${name}`)}/log`],
      [vic, `${kapi}/namespaces/ci/pipelineruns/${into(`pipelineruns/${name}`)}/artifacts/private.txt`],
      [bob, `${kapi}/namespaces/ci/pipelines/${into('pipelines/private')}/run`],
    ] as const) {
      const res = await call(t.url, token, path, path.endsWith('/run') ? { method: 'POST', json: { parameters: {} } } : {});
      const text = await res.text();
      expect(res.status, `${path}: ${text}`).toBe(400);
      // The core's gateway refuses a segment hiding an encoded "/" before the backend is asked.
      expect(JSON.parse(text)).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: expect.stringMatching(/is not a valid name|the gateway does not forward it/) });
    }
    // The backend checks names itself too (the gateway is not the only way in): a name it is given
    // that is no Kubernetes name is refused, never put in a path to the core.
    const odd = await call(t.url, vic, `${kapi}/namespaces/ci/pipelineruns/Not_A..Name/log`);
    const oddText = await odd.text();
    expect(odd.status, oddText).toBe(400);
    expect(JSON.parse(oddText)).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: expect.stringMatching(/is not a valid name/) });
    // The anonymous webhook of ci, signed with ci's own key, does not reach other's pipeline either.
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const hook = await call(t.url, undefined, `/hooks/devops/ci/${into('pipelines/private')}`, {
      method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${createHmac('sha256', 'hook-key').update(body).digest('hex')}` },
    });
    expect(hook.status, await hook.text()).toBe(401);
    expect(((await (await t.api(`${devops}/pipelineruns`)).json()) as { items: unknown[] }).items.length).toBe(runsBefore);
  });

  it("a Pipeline's Secret names and a PipelineRun's pipeline are names in its own namespace: 422 naming the field otherwise", async () => {
    // "elsewhere": a namespace with a Secret and a Pipeline of its own.
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'elsewhere' } } })).status).toBe(201);
    expect((await t.api('/api/v1/namespaces/elsewhere/secrets', { method: 'POST', json: { metadata: { name: 'vault' }, stringData: { token: 'elsewhere-secret-value' } } })).status).toBe(201);
    expect((await t.api('/apis/devops.mortise.io/v1alpha1/namespaces/elsewhere/pipelines', { method: 'POST', json: {
      apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name: 'theirs' }, spec: { stages: [{ name: 'one', steps: [{ sh: 'echo elsewhere-pipeline-ran' }] }] },
    } })).status).toBe(201);
    const climb = 'x/../../../elsewhere';
    const refused = async (res: Response, field: string) => {
      const text = await res.text();
      expect(res.status, text).toBe(422);
      expect((JSON.parse(text) as { details?: { causes?: Array<{ field?: string }> } }).details?.causes?.map((c) => c.field)).toContain(field);
    };
    // A step binding "a Secret" that is elsewhere's (and printing it reversed, past the masking).
    await refused(await t.api(`${devops}/pipelines`, { method: 'POST', json: {
      apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name: 'thief' },
      spec: { stages: [{ name: 'one', steps: [{ sh: 'echo "$TOKEN" | rev', secretEnv: [{ name: 'TOKEN', secretRef: { name: `${climb}/secrets/vault`, key: 'token' } }] }] }] },
    } }), 'spec.stages[0].steps[0].secretEnv[0].secretRef.name');
    await refused(await t.api(`${devops}/pipelines`, { method: 'POST', json: {
      apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name: 'thief-hook' },
      spec: { triggers: { webhook: { secretRef: { name: `${climb}/secrets/vault`, key: 'token' } } }, stages: [{ name: 'one', steps: [{ sh: 'true' }] }] },
    } }), 'spec.triggers.webhook.secretRef.name');
    // bob may create runs in ci: one of "a pipeline" that is elsewhere's.
    await refused(await call(t.url, bob, `${devops}/pipelineruns`, { method: 'POST', json: {
      apiVersion: 'devops.mortise.io/v1alpha1', kind: 'PipelineRun', metadata: { name: 'borrowed' }, spec: { pipeline: `${climb}/pipelines/theirs` },
    } }), 'spec.pipeline');
  });

  it('masks every line of a secret of several lines, and keeps (masked) a last line printed without a newline', async () => {
    const key = '-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nq7Jx0Yl2Zk9pTmV4dC1saW5lLW9mLWtleQ\n-----END TEST KEY-----';
    expect((await t.api('/api/v1/namespaces/ci/secrets', { method: 'POST', json: { metadata: { name: 'deploy-key' }, stringData: { pem: key, token: 'tail-secret-value' } } })).status).toBe(201);
    await pipeline('keyed', { stages: [{ name: 'one', steps: [
      { sh: 'echo "$KEY"; printf "last=%s" "$TOKEN"', secretEnv: [{ name: 'KEY', secretRef: { name: 'deploy-key', key: 'pem' } }, { name: 'TOKEN', secretRef: { name: 'deploy-key', key: 'token' } }] },
      { sh: 'printf done-without-newline' },
    ] }] });
    const done = await waitRun((await startRun('keyed')).body.metadata.name, ['Succeeded', 'Failed']);
    expect(done.status?.phase, done.status?.message).toBe('Succeeded');
    const texts = (await follow(`${t.url}${kapi}/namespaces/ci/pipelineruns/${done.metadata.name}/log`, t.token)).map((e) => e.text);
    for (const line of key.split('\n').slice(1, 3)) expect(texts.join('\n')).not.toContain(line);
    expect(texts).toEqual(expect.arrayContaining(['last=****', 'done-without-newline']));
    expect(texts.join('\n')).not.toContain('tail-secret-value');
  });

  it('times a step out, retries a failing one, and aborts a run on request', async () => {
    await pipeline('flaky', {
      stages: [
        { name: 'retry', steps: [{ sh: 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; test $n -ge 2', retries: 2 }] },
        { name: 'slow', steps: [{ sh: 'sleep 20', timeoutSeconds: 1 }] },
      ],
      post: { failure: [{ sh: 'echo post-failure' }] },
    });
    const { body } = await startRun('flaky');
    const done = await waitRun(body.metadata.name, ['Succeeded', 'Failed']);
    expect(done.status?.phase).toBe('Failed');
    const steps = done.status!.stages!.flatMap((s) => s.branches.flatMap((b) => b.steps.map((st) => ({ stage: s.name, ...st }))));
    expect(steps.find((s) => s.stage === 'retry')).toMatchObject({ phase: 'Succeeded', attempts: 3 });
    expect(steps.find((s) => s.stage === 'slow')).toMatchObject({ phase: 'Failed', message: 'timed out after 1s' });
    expect((await follow(`${t.url}${kapi}/namespaces/ci/pipelineruns/${body.metadata.name}/log`, t.token)).map((e) => e.text)).toContain('post-failure');

    await pipeline('long', { stages: [{ name: 'wait', steps: [{ sh: 'sleep 30' }] }] });
    const long = (await startRun('long')).body.metadata.name;
    await waitRun(long, ['Running']);
    await t.api(`${devops}/pipelineruns/${long}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { abort: true } }) });
    expect((await waitRun(long, ['Aborted', 'Failed', 'Succeeded'])).status?.phase).toBe('Aborted');
  });

  it('a DevOpsProject owns a namespace in its workspace, which goes with it', async () => {
    expect((await t.api('/apis/tenant.mortise.io/v1alpha1/workspaces', { method: 'POST', json: workspace('team') })).status).toBe(201);
    const project = (name: string, labels: Record<string, string>, spec: Record<string, unknown> = {}) =>
      t.api(projects, { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'DevOpsProject', metadata: { name, labels }, spec } });
    expect((await project('shop', { 'tenant.mortise.io/workspace': 'team' }, { namespace: 'shop-ci' })).status).toBe(201);
    const ready = await eventually(async () => {
      const p = (await (await t.api(`${projects}/shop`)).json()) as { metadata: { uid: string }; status?: { phase?: string; namespace?: string } };
      return p.status?.phase === 'Ready' ? p : undefined;
    }, 10_000, 'project shop ready');
    expect(ready.status!.namespace).toBe('shop-ci');
    const ns = (await (await t.api('/api/v1/namespaces/shop-ci')).json()) as { metadata: { labels: Record<string, string>; ownerReferences: Array<{ kind: string; uid: string }> } };
    expect(ns.metadata.labels['tenant.mortise.io/workspace']).toBe('team');
    expect(ns.metadata.ownerReferences).toContainEqual(expect.objectContaining({ kind: 'DevOpsProject', uid: ready.metadata.uid }));
    // Without a workspace, or onto a namespace that is not its own, it says why and creates nothing.
    expect((await project('loose', {})).status).toBe(201);
    expect((await project('thief', { 'tenant.mortise.io/workspace': 'team' }, { namespace: 'ci' })).status).toBe(201);
    const failed = (name: string) => eventually(async () => {
      const p = (await (await t.api(`${projects}/${name}`)).json()) as { status?: { phase?: string; message?: string } };
      return p.status?.phase === 'Failed' ? p.status.message : undefined;
    }, 10_000, `project ${name} failed`);
    expect(await failed('loose')).toMatch(/label the project with tenant.mortise.io\/workspace/);
    expect(await failed('thief')).toMatch(/namespace ci already exists and is not this project's/);
    expect((await t.api('/api/v1/namespaces/loose')).status).toBe(404);
    // Deleting the project deletes its namespace.
    expect((await t.api(`${projects}/shop`, { method: 'DELETE' })).status).toBeLessThan(300);
    await eventually(async () => (await t.api('/api/v1/namespaces/shop-ci')).status === 404, 15_000, 'the namespace of shop deleted');
    expect((await t.api('/api/v1/namespaces/ci')).status).toBe(200);
  });

  it('a cron trigger fires once per schedule time: a missed time once, never twice', async () => {
    await pipeline('bad-cron', { triggers: { cron: { schedule: '61 * * * *' } }, stages: [{ name: 'one', steps: [{ sh: 'true' }] }] });
    await pipeline('typo-cron', { triggers: { cron: { schedule: '* * * * * *' } }, stages: [{ name: 'one', steps: [{ sh: 'true' }] }] });
    const cronStatus = (name: string) => t.api(`${devops}/pipelines/${name}`).then(async (r) => ((await r.json()) as Pipeline).status);
    expect((await eventually(async () => (await cronStatus('bad-cron'))?.cron, 10_000, 'bad-cron status'))).toMatchObject({ valid: false, message: expect.stringMatching(/minute/) });
    expect((await eventually(async () => (await cronStatus('typo-cron'))?.cron, 10_000, 'typo-cron status')).message).toMatch(/not a 5-field cron expression/);

    await pipeline('nightly', { triggers: { cron: { schedule: '* * * * *', parameters: { MODE: 'cron' } } }, stages: [{ name: 'one', steps: [{ sh: 'echo "mode=$PARAM_MODE"' }] }] });
    const armed = await eventually(async () => (await cronStatus('nightly'))?.cron?.nextScheduleTime, 10_000, 'nightly armed');
    expect(new Date(armed).getUTCSeconds()).toBe(0);
    const cronRuns = async () => ((await (await t.api(`${devops}/pipelineruns`)).json()) as { items: Array<Run & { spec: { pipeline: string; triggeredBy?: string } }> }).items.filter((r) => r.spec.pipeline === 'nightly');
    // As if the backend had been down for ten minutes: the latest missed time fires, once.
    const rewind = () => t.api(`${devops}/pipelines/nightly/status`, { method: 'PATCH', headers: mergePatch, json: { status: { lastScheduleTime: new Date(Date.now() - 10 * 60_000).toISOString() } } });
    const before = Date.now();
    expect((await rewind()).status).toBe(200);
    const first = await eventually(async () => (await cronRuns())[0], 10_000, 'the missed firing');
    const minute = Number(/-cron-(\d+)$/.exec(first.metadata.name)![1]);
    expect(minute).toBeGreaterThanOrEqual(Math.floor(before / 60_000));
    expect(first.spec.triggeredBy).toBe('cron (* * * * *)');
    expect((await waitRun(first.metadata.name, ['Succeeded', 'Failed'])).status?.phase).toBe('Succeeded');
    expect((await follow(`${t.url}${kapi}/namespaces/ci/pipelineruns/${first.metadata.name}/log`, t.token)).map((e) => e.text)).toContain('mode=cron');
    await eventually(async () => (await cronStatus('nightly'))?.lastScheduleTime === new Date(minute * 60_000).toISOString(), 5000, 'lastScheduleTime recorded');
    // Rewound again (a restart that lost nothing but its memory): the same time does not fire twice.
    expect((await rewind()).status).toBe(200);
    await eventually(async () => (await cronStatus('nightly'))?.lastScheduleTime !== undefined && new Date((await cronStatus('nightly'))!.lastScheduleTime!).getTime() >= minute * 60_000, 5000, 'settled after the rewind');
    const runs = await cronRuns();
    const minutes = runs.map((r) => Number(/-cron-(\d+)$/.exec(r.metadata.name)![1]));
    expect(new Set(minutes).size).toBe(runs.length);
    expect(runs.length).toBeLessThanOrEqual(Math.floor(Date.now() / 60_000) - minute + 1);
  });

  it('a run in progress when the backend is killed is marked failed with the reason, and leaves no step process behind', async () => {
    await pipeline('doomed', { stages: [{ name: 'wait', steps: [{ sh: 'sleep 47.25' }] }] });
    const name = (await startRun('doomed')).body.metadata.name;
    await waitRun(name, ['Running']);
    await eventually(() => stepProcesses('sleep 47.25').length > 0, 5000, 'the step process');
    const backend = t.core.runtime.list().find((b) => b.id.startsWith('devops@') && b.pid);
    process.kill(backend!.pid!, 'SIGKILL');
    const failed = await waitRun(name, ['Failed'], 45_000);
    expect(failed.status?.message).toMatch(/restarted while the run was in progress/);
    await eventually(() => stepProcesses('sleep 47.25').length === 0, 5000, 'no orphan step process');
  });

  it('a viewer cannot run a pipeline (neither through the extension nor by creating a PipelineRun)', async () => {
    expect((await startRun('app', vic)).status).toBe(403);
    expect((await call(t.url, vic, `${devops}/pipelineruns`, { method: 'POST', json: { metadata: { name: 'sneaky' }, spec: { pipeline: 'app' } } })).status).toBe(403);
    // (The backend may still be restarting after the previous test: 503 until it is ready.)
    await eventually(async () => (await startRun('app', bob)).status === 201, 20_000, 'bob starts a run');
  });
  it('refuses to run steps when bubblewrap does not work, says so, and runs them only when an admin opts in', async () => {
    const plan = `${ext}/installplans/devops`;
    const setConfig = async (extra: Record<string, unknown>) => {
      const res = await t.api(plan, { method: 'PATCH', headers: mergePatch, json: { spec: { config: { localGitRoots: [join(work, 'git')], maxConcurrentRuns: 2, ...extra } } } });
      expect(res.status).toBe(200);
    };
    const sandboxIs = (want: Record<string, unknown>) => eventually(async () => {
      const r = await t.api(`${kapi}/sandbox`);
      if (r.status !== 200) return undefined;
      const body = (await r.json()) as Record<string, unknown>;
      return Object.entries(want).every(([k, v]) => body[k] === v) ? body : undefined;
    }, 30_000, `sandbox ${JSON.stringify(want)}`);
    // A bubblewrap that cannot work (exits 1 at once).
    await setConfig({ bwrapPath: '/bin/false' });
    const broken = await sandboxIs({ confined: false, runningSteps: false });
    expect(broken.reason).toMatch(/bubblewrap failed/);
    await pipeline('plain', { stages: [{ name: 'one', steps: [{ sh: 'echo ran-unconfined' }] }] });
    const refused = await waitRun((await startRun('plain')).body.metadata.name, ['Succeeded', 'Failed']);
    expect(refused.status?.phase).toBe('Failed');
    expect(refused.status?.message).toMatch(/sandbox does not work .*does not allow unconfined steps/);
    // The administrator opts in: steps run as plain processes.
    await setConfig({ bwrapPath: '/bin/false', allowUnconfinedSteps: true });
    await sandboxIs({ confined: false, runningSteps: true });
    const ran = await waitRun((await startRun('plain')).body.metadata.name, ['Succeeded', 'Failed']);
    expect(ran.status?.phase, ran.status?.message).toBe('Succeeded');
    expect((await follow(`${t.url}${kapi}/namespaces/ci/pipelineruns/${ran.metadata.name}/log`, t.token)).map((e) => e.text)).toContain('ran-unconfined');
    await setConfig({ bwrapPath: 'bwrap', allowUnconfinedSteps: false });
    await sandboxIs({ confined: true, runningSteps: true });
  });

  it('uninstalling stops its runs and removes what it owns: kinds, objects, project namespaces, role templates', async () => {
    await pipeline('endless', { stages: [{ name: 'wait', steps: [{ sh: 'sleep 61.75' }] }] });
    const name = (await startRun('endless')).body.metadata.name;
    await waitRun(name, ['Running']);
    await eventually(() => stepProcesses('sleep 61.75').length > 0, 5000, 'the step process');
    expect((await t.api(projects, { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'DevOpsProject', metadata: { name: 'doomed-project', labels: { 'tenant.mortise.io/workspace': 'team' } } } })).status).toBe(201);
    await eventually(async () => (await t.api('/api/v1/namespaces/doomed-project')).status === 200, 10_000, 'the project namespace');
    expect((await t.api(`${ext}/installplans/devops`, { method: 'DELETE' })).status).toBeLessThan(300);
    await eventually(async () => (await t.api(`${ext}/installplans/devops`)).status === 404, 60_000, 'devops uninstalled');
    await eventually(() => stepProcesses('sleep 61.75').length === 0, 5000, 'no step process left');
    expect((await t.api('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pipelineruns.devops.mortise.io')).status).toBe(404);
    expect((await t.api(`${iam}/roletemplates?labelSelector=extensions.mortise.io/extension=devops`).then((r) => r.json()) as { items: unknown[] }).items).toEqual([]);
    await eventually(async () => (await t.api('/api/v1/namespaces/doomed-project')).status === 404, 20_000, 'the project namespace deleted');
    expect((await t.api('/api/v1/namespaces/ci')).status).toBe(200);
  });
});
