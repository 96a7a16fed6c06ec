import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addToIndex, emptyRepositoryIndex, packExtension, serializeRepositoryIndex } from '@mortise/extension-sdk';
import { buildFrontend } from '@mortise/extension-sdk/federation';
import { eventually, type TestCore } from '../../../../core/test/support/test-core.js';

// The servicemesh extension packed (console pages built by the SDK's federation preset), served
// from a local repository and installed into a test core, as an administrator would.

const ext = '/apis/extensions.mortise.io/v1alpha1';
const extensionDir = join(import.meta.dirname, '..', '..');

interface Plan { status?: { state?: string; message?: string; listeners?: Array<{ name: string; port?: number }> } }

/** Installs it with this configuration; the data plane's URL. */
export async function installMesh(t: TestCore, work: string, config?: Record<string, unknown>): Promise<string> {
  const repo = join(work, 'repo');
  mkdirSync(join(repo, 'packages'), { recursive: true });
  await buildFrontend(extensionDir);
  const packed = await packExtension(extensionDir, { outDir: join(repo, 'packages') });
  writeFileSync(join(repo, 'index.yaml'), serializeRepositoryIndex(addToIndex(emptyRepositoryIndex(), packed.manifest, { digest: packed.sha256, url: `packages/${packed.file.split('/').pop()}` })));
  const created = async (path: string, json: unknown) => {
    const res = await t.api(path, { method: 'POST', json });
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  };
  await created(`${ext}/repositories`, { metadata: { name: 'local' }, spec: { url: `file://${repo}` } });
  await eventually(async () => (await t.api(`${ext}/extensionversions/servicemesh-0.1.0`)).status === 200, 15_000, 'repository synced');
  await created(`${ext}/installplans`, { metadata: { name: 'servicemesh' }, spec: { extension: { name: 'servicemesh', version: '0.1.0' }, enabled: true, ...(config ? { config } : {}) } });
  const plan = await eventually(async () => {
    const p = (await (await t.api(`${ext}/installplans/servicemesh`)).json()) as Plan;
    if (p.status?.state === 'InstallFailed') throw new Error(p.status.message);
    return p.status?.state === 'Installed' && p.status.listeners?.[0]?.port ? p : undefined;
  }, 45_000, 'servicemesh installed');
  return `http://127.0.0.1:${plan.status!.listeners!.find((l) => l.name === 'dataplane')!.port}`;
}

export interface SpanNode { service: string; version: string; source: string; children: SpanNode[] }

/** A trace through the extension's trace API, once it has `spans` spans. */
export function traceWithSpans(t: TestCore, namespace: string, traceId: string, spans: number): Promise<{ summary: { spans: number }; roots: SpanNode[] }> {
  return eventually(async () => {
    const r = await t.api(`/proxy/servicemesh/api/namespaces/${namespace}/traces/${traceId}`);
    if (r.status !== 200) return undefined;
    const tree = (await r.json()) as { summary: { spans: number }; roots: SpanNode[] };
    return tree.summary.spans === spans ? tree : undefined;
  }, 5000, 'the trace recorded');
}
