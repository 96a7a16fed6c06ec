import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundledRepository } from '../../../core/src/extensions/bundled-repository.js';
import { createLogger } from '../../../core/src/ops/logger.js';
import { installPlan, setPlanEnabled, waitPlanState } from './install-plans.js';
import { call, eventually, startTestCore, type TestCore } from '../../../core/test/support/test-core.js';

// The core keeps its own log and each backend's in files of its data dir, numbered across
// restarts, and the logging extension stores them after the last number it stored: with logging
// disabled, more lines than the core's old in-memory buffers held (1,000 of its own, 500 per
// backend) are written on both sides of a core restart; once logging is enabled again every one
// of them arrives, exactly once.

const extensionsDir = join(import.meta.dirname, '..', '..');
const fixtures = join(import.meta.dirname, 'fixtures');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const loki = '/proxy/logging/loki/api/v1';

describe('platform logs while the logging extension is down', () => {
  let t: TestCore;
  const work = mkdtempSync(join(tmpdir(), 'mortise-durable-logs-'));
  const dataDir = join(work, 'data');

  const install = (name: string, config: Record<string, unknown> = {}) => installPlan(t, name, config);
  const setEnabled = (name: string, enabled: boolean) => setPlanEnabled(t, name, enabled);
  const waitState = (name: string, state: string) => waitPlanState(t, name, state);
  /** Lines of the backend and of the core, tagged so they can be counted one by one. */
  const produce = async (tag: string, backendLines: number, coreLines: number) => {
    const res = await t.api(`/proxy/chatter/lines?tag=${tag}&n=${backendLines}`, { method: 'POST' });
    expect(res.status).toBe(200);
    for (let n = 1; n <= coreLines; n++) t.core.logger.info({ event: 'test.durable', tag, n }, `durable-test ${tag} ${n}`);
  };
  /** Every stored line matching the query (oldest first). */
  const stored = async (query: string) => {
    const now = Math.floor(Date.now() / 1000);
    const qs = new URLSearchParams({ query, limit: '5000', direction: 'forward', start: String(now - 3600), end: String(now + 60) });
    const res = await call(t.url, t.token, `${loki}/query_range?${qs}`);
    if (res.status !== 200) return [];
    return ((await res.json()) as { data: { result: Array<{ values: Array<[string, string]> }> } }).data.result.flatMap((s) => s.values.map((v) => v[1]));
  };
  const backendLines = async () => (await stored('{source="extension", extension="chatter"} |= "chatter-line"')).map((l) => l.replace(/^chatter-line /, ''));
  const coreLines = async () => (await stored('{source="core"} | json | event="test.durable"')).map((l) => {
    const e = JSON.parse(l) as { tag: string; n: number };
    return `${e.tag} ${e.n}`;
  });
  const expected = (counts: Record<string, number>) => Object.entries(counts).flatMap(([tag, n]) => Array.from({ length: n }, (_, i) => `${tag} ${i + 1}`));

  beforeAll(async () => {
    t = await startTestCore({ dataDir });
    const repo = await buildBundledRepository([extensionsDir, fixtures], join(work, 'repo'), createLogger({ level: 'silent' }));
    expect(repo.extensions).toEqual(expect.arrayContaining(['logging', 'chatter']));
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: repo.url } } })).status).toBe(201);
    for (const name of ['logging', 'chatter']) await eventually(async () => (await t.api(`${ext}/extensionversions/${name}-0.1.0`)).status === 200, 20_000, `${name} offered`);
    await install('logging', { platformLogs: { intervalSeconds: 1 }, audit: { enabled: false } });
    await install('chatter');
  }, 240_000);

  afterAll(async () => {
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('stores every line written while it was disabled, across a core restart, exactly once', async () => {
    await produce('before', 10, 10);
    await eventually(async () => (await backendLines()).length === 10 && (await coreLines()).length === 10, 30_000, 'the first lines stored');

    await setEnabled('logging', false);
    await produce('down1', 700, 1200);
    // The core restarts (on the same data dir) while logging is still disabled.
    await t.close();
    t = await startTestCore({ dataDir });
    await waitState('chatter', 'Installed');
    await eventually(async () => (await t.api('/proxy/chatter/healthz')).status === 200, 30_000, 'chatter serving again');
    await produce('down2', 700, 1200);

    await setEnabled('logging', true);
    const want = { before: 10, down1: 700, down2: 700 };
    const wantCore = { before: 10, down1: 1200, down2: 1200 };
    await eventually(async () => (await backendLines()).length >= 1410 && (await coreLines()).length >= 2410, 60_000, 'every line stored')
      .catch(async (e: unknown) => {
        throw new Error(`${(e as Error).message}: ${(await backendLines()).length} backend lines, ${(await coreLines()).length} core lines`);
      });
    // Exactly once (lines of one millisecond share a time, so they are compared as sets).
    const sorted = (l: string[]) => [...l].sort();
    expect(sorted(await backendLines())).toEqual(sorted(expected(want)));
    expect(sorted(await coreLines())).toEqual(sorted(expected(wantCore)));
  });
});
