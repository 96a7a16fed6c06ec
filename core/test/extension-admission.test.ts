import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../src/extensions/bundled-repository.js';
import { createLogger } from '../src/ops/logger.js';
import { eventually, startTestCore, type TestCore } from './support/test-core.js';

// Two capabilities a manifest declares: `admission.validatePath` (the backend validates writes of
// the extension's own kinds; the core refuses what it refuses, with its causes) and
// `backend.listeners` (extra ports the runtime gives the backend, shown in the InstallPlan).

const ext = '/apis/extensions.mortise.io/v1alpha1';
const widgets = '/apis/widgets.example.com/v1alpha1/namespaces/default/widgets';
const fixture = join(import.meta.dirname, 'fixtures', 'admission-extension');
interface Plan { status?: { state?: string; listeners?: Array<{ name: string; description: string; port?: number }> } }

describe('extension admission and listeners', () => {
  let t: TestCore;
  let work: string;
  const plan = async () => (await (await t.api(`${ext}/installplans/widgets`)).json()) as Plan;
  const widget = (name: string, size: number) => t.api(widgets, { method: 'POST', json: { apiVersion: 'widgets.example.com/v1alpha1', kind: 'Widget', metadata: { name }, spec: { size } } });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mortise-admission-'));
    cpSync(fixture, join(work, 'src', 'widgets'), { recursive: true });
    await buildBundledRepository([join(work, 'src')], join(work, 'repo'), createLogger({ level: 'silent' }));
    t = await startTestCore({ backendReadyTimeoutMs: 15_000 });
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${join(work, 'repo')}` } } })).status).toBe(201);
    await eventually(async () => (await t.api(`${ext}/extensionversions/widgets-0.1.0`)).status === 200, 15_000, 'repository synced');
    expect((await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name: 'widgets' }, spec: { extension: { name: 'widgets', version: '0.1.0' }, enabled: true } } })).status).toBe(201);
    await eventually(async () => (await plan()).status?.state === 'Installed', 30_000, 'widgets installed');
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('gives the backend the declared listener and shows its port in the InstallPlan', async () => {
    const p = await eventually(async () => {
      const s = await plan();
      return s.status?.listeners?.[0]?.port ? s : undefined;
    }, 10_000, 'listener port in status');
    const l = p.status!.listeners![0]!;
    expect(l).toMatchObject({ name: 'data', description: expect.stringContaining('data plane') });
    expect(await (await fetch(`http://127.0.0.1:${l.port}/anything`)).text()).toBe('data plane');
  });

  it("refuses what the backend refuses, with its causes, and stores nothing; allows the rest", async () => {
    expect((await widget('small', 5)).status).toBe(201);
    const res = await widget('big', 11);
    expect(res.status).toBe(422);
    const status = (await res.json()) as { reason: string; message: string; details: { causes: Array<{ field: string; message: string }> } };
    expect(status.reason).toBe('Invalid');
    expect(status.details.causes).toEqual([{ reason: 'FieldValueInvalid', field: 'spec.size', message: 'must be at most 10' }]);
    // The backend learnt who asked, from an identity the core signed for it.
    expect(status.message).toContain('too large for admin (with an identity)');
    expect((await t.api(`${widgets}/big`)).status).toBe(404);
    // An update is asked too; the stored object stays as it was.
    const upd = await t.api(`${widgets}/small`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { size: 50 } } });
    expect(upd.status).toBe(422);
    expect(((await (await t.api(`${widgets}/small`)).json()) as { spec: { size: number } }).spec.size).toBe(5);
  });

  it('fails closed while the extension is disabled, and the webhook goes with the uninstall', async () => {
    expect((await t.api(`${ext}/installplans/widgets`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { enabled: false } } })).status).toBe(200);
    const refused = await eventually(async () => {
      const r = await widget('while-off', 1);
      return r.status === 503 ? r : undefined;
    }, 15_000, 'writes refused while disabled');
    expect(((await refused.json()) as { message: string }).message).toContain('disabled');
    expect((await t.api(`${ext}/installplans/widgets`, { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => (await t.api(`${ext}/installplans/widgets`)).status === 404, 20_000, 'uninstalled');
    expect((await t.api(`${ext}/admissionwebhooks/widgets`)).status).toBe(404);
  });
});
