import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../../core/src/ops/logger.js';
import { eventually, startTestCore, type TestCore } from '../../../core/test/support/test-core.js';

// Two DevOps backends against one real core (as during an upgrade, when the new backend starts
// before the old one stops): every run is executed by exactly one of them, and a run whose holder
// died or hung is taken over by the other once the holder's claim lapsed.

const devopsDir = join(import.meta.dirname, '..');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const runs = '/apis/devops.mortise.io/v1alpha1/namespaces/ci/pipelineruns';
const config = { maxConcurrentRuns: 3, runClaimSeconds: 2, localGitRoots: [], maxLogBytesPerStep: 1048576, allowUnconfinedSteps: false, bwrapPath: 'bwrap' };

interface Run { metadata: { name: string; uid: string }; status?: { phase?: string; message?: string; claim?: { holder: string } } }

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('DevOps run claiming with two backends', () => {
  let t: TestCore;
  let work: string;
  let dataDir: string;
  const backends: ChildProcess[] = [];
  const run = async (name: string) => (await (await t.api(`${runs}/${name}`)).json()) as Run;
  /** Lines the run's steps appended to /workspace/executions: one per execution of the step. */
  const executions = (r: Run) => {
    const file = join(dataDir, 'runs', 'ci', `${r.metadata.name}-${r.metadata.uid}`, 'workspace', 'executions');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
  };
  const createRun = async (pipeline: string) => {
    const res = await t.api(runs, { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'PipelineRun', metadata: { generateName: `${pipeline}-` }, spec: { pipeline } } });
    expect(res.status).toBe(201);
    return ((await res.json()) as Run).metadata.name;
  };

  /** A DevOps backend started by hand, with the extension's service account and data directory (an upgrade's new backend shares it). */
  async function startBackend(): Promise<ChildProcess> {
    const port = await freePort();
    const token = await t.core.tokens.sign({ sub: 'extension-devops', token_use: 'access' }, 'mortise-extension', 3600);
    const child = spawn(process.execPath, [join(devopsDir, 'dist', 'server.js')], {
      cwd: devopsDir, stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env.PATH, MORTISE_EXTENSION: 'devops', MORTISE_EXTENSION_VERSION: '0.1.0', MORTISE_CORE_URL: t.url, MORTISE_TOKEN: token,
        MORTISE_CONFIG: JSON.stringify(config), MORTISE_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1',
      },
    });
    child.stderr!.resume();
    backends.push(child);
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 20_000, 'the backend ready');
    return child;
  }
  const holderPid = (r: Run) => Number(r.status!.claim!.holder.split('/')[1]);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mortise-devops-claims-'));
    const repoDir = join(work, 'repository');
    await buildBundledRepository([join(devopsDir, '..')], repoDir, createLogger({ level: 'silent' }));
    t = await startTestCore({ backendReadyTimeoutMs: 15_000 });
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${repoDir}` } } })).status).toBe(201);
    await eventually(async () => (await t.api(`${ext}/extensionversions/devops-0.1.0`)).status === 200, 15_000, 'repository synced');
    expect((await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'devops' }, spec: { extension: { name: 'devops', version: '0.1.0' }, enabled: true, config } } })).status).toBe(201);
    await eventually(async () => ((await (await t.api(`${ext}/installplans/devops`)).json()) as { status?: { state?: string } }).status?.state === 'Installed', 45_000, 'devops installed');
    // The core's own backend executes no runs (it stays for the admission of runs): the two
    // below, the test's, execute them, so it can kill them.
    expect((await t.api(`${ext}/installplans/devops`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { config: { ...config, maxConcurrentRuns: 0 } } } })).status).toBe(200);
    await eventually(async () => {
      const plan = (await (await t.api(`${ext}/installplans/devops`)).json()) as { metadata: { generation: number }; status?: { observedGeneration?: number; message?: string } };
      return plan.status?.observedGeneration === plan.metadata.generation && / is serving$/.test(plan.status.message ?? '');
    }, 30_000, 'the core\'s devops backend serving with maxConcurrentRuns 0');
    dataDir = join(t.dataDir!, 'extensions', 'data', 'devops');
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'ci' } } })).status).toBe(201);
    for (const [name, sh] of [['count', 'echo run >> /workspace/executions; sleep 1'], ['long', 'echo run >> /workspace/executions; sleep 60']]) {
      expect((await t.api('/apis/devops.mortise.io/v1alpha1/namespaces/ci/pipelines', { method: 'POST', json: { apiVersion: 'devops.mortise.io/v1alpha1', kind: 'Pipeline', metadata: { name }, spec: { stages: [{ name: 'one', steps: [{ sh }] }] } } })).status).toBe(201);
    }
    await startBackend();
    await startBackend();
  }, 180_000);

  afterAll(async () => {
    for (const b of backends) b.kill('SIGKILL');
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs each of 12 queued runs exactly once, shared between both backends', async () => {
    const names: string[] = [];
    for (let i = 0; i < 12; i++) names.push(await createRun('count'));
    const done = await eventually(async () => {
      const all = await Promise.all(names.map(run));
      return all.every((r) => r.status?.phase === 'Succeeded') ? all : undefined;
    }, 60_000, 'all 12 runs succeeded');
    expect(done.map(executions)).toEqual(names.map(() => 1));
    // Each backend runs at most 3 at once, so both took part.
    const holders = new Set(done.map((r) => r.status!.claim!.holder));
    expect(holders.size).toBe(2);
    expect([...holders].map((h) => Number(h.split('/')[1])).sort()).toEqual(backends.map((b) => b.pid).sort());
  });

  it('a run whose backend was killed is taken over by the other and failed with the reason, its step not run again', async () => {
    const name = await createRun('long');
    const held = await eventually(async () => {
      const r = await run(name);
      return r.status?.phase === 'Running' && executions(r) === 1 ? r : undefined;
    }, 20_000, 'the long run running');
    const victim = backends.find((b) => b.pid === holderPid(held))!;
    victim.kill('SIGKILL');
    const failed = await eventually(async () => {
      const r = await run(name);
      return r.status?.phase === 'Failed' ? r : undefined;
    }, 20_000, 'the run taken over');
    // The holder was on this host and its process is gone: taken over without waiting for the lease.
    expect(failed.status!.message).toMatch(new RegExp(`restarted while the run was in progress \\(its holder .*/${victim.pid}/`));
    expect(holderPid(failed)).not.toBe(victim.pid);
    expect(executions(failed)).toBe(1);
    await startBackend();
  });

  it('a holder that stops renewing (hung) loses the run when its claim expires, and cannot overwrite it when it comes back', async () => {
    const name = await createRun('long');
    const held = await eventually(async () => {
      const r = await run(name);
      return r.status?.phase === 'Running' && executions(r) === 1 ? r : undefined;
    }, 20_000, 'the long run running');
    const hung = backends.find((b) => b.pid === holderPid(held))!;
    hung.kill('SIGSTOP');
    const failed = await eventually(async () => {
      const r = await run(name);
      return r.status?.phase === 'Failed' ? r : undefined;
    }, 20_000, 'the run taken over after the lease');
    expect(failed.status!.message).toMatch(/stopped renewing its claim while the run was in progress/);
    expect(holderPid(failed)).not.toBe(hung.pid);
    hung.kill('SIGCONT');
    // Back, the old holder finds at its next renewal that the run is no longer its own: it stops
    // its step and writes nothing (every write it makes tests that it still holds the claim).
    await new Promise((r) => setTimeout(r, 3000));
    const after = await run(name);
    expect(after.status).toMatchObject({ phase: 'Failed', message: failed.status!.message, claim: { holder: failed.status!.claim!.holder } });
    expect(executions(after)).toBe(1);
  });
});
