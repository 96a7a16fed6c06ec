import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogQLError, parseLogQL } from '../src/logql.js';
import { logQuery, metricInstantQuery, metricRangeQuery } from '../src/query-engine.js';
import { SqliteLogStore } from '../src/sqlite-log-store.js';

// The store and the query engine without the HTTP layer: partitions, FTS, retention, LogQL
// semantics and a SIGKILL in the middle of ingest.

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'mortise-logstore-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const MS = 1_000_000n;
const T0 = 1_700_000_000_000; // ms
const ns = (ms: number) => BigInt(ms) * MS;

function seeded(): SqliteLogStore {
  const store = new SqliteLogStore(tmp());
  return store;
}

describe('SqliteLogStore and LogQL', () => {
  it('keeps lines per stream, finds substrings through FTS, scopes by namespace, and answers log queries in order', async () => {
    const store = seeded();
    await store.append([
      { labels: { app: 'web', namespace: 'a' }, namespace: 'a', workspace: 'wa', entries: [
        { tsNs: ns(T0), line: 'GET /index status=200 took=12' },
        { tsNs: ns(T0 + 1000), line: 'GET /login status=500 took=340' },
        { tsNs: ns(T0 + 2000), line: '{"level":"error","msg":"db down","user":{"id":7}}' },
      ] },
      { labels: { app: 'api', namespace: 'b' }, namespace: 'b', workspace: 'wb', entries: [{ tsNs: ns(T0 + 500), line: 'GET /login status=500 took=1' }] },
    ]);
    const range = { startNs: ns(T0 - 1000), endNs: ns(T0 + 10_000), limit: 100, direction: 'backward' as const };
    const q = (s: string, scope: ReadonlySet<string> | 'all' = 'all', r = range) => logQuery(store, scope, parseLogQL(s) as never, r);

    const all = q('{app=~".+"} |= "login"');
    expect(all.map((s) => s.stream.app).sort()).toEqual(['api', 'web']);
    // Scope first: a matcher naming another namespace finds nothing.
    expect(q('{namespace="b"}', new Set(['a']))).toEqual([]);
    expect(q('{app=~".+"} |= "login"', new Set(['a'])).map((s) => s.stream.app)).toEqual(['web']);
    // Case-sensitive, like Loki, although the trigram index is not.
    expect(q('{app="web"} |= "LOGIN"')).toEqual([]);
    expect(q('{app="web"} != "login" |~ "status=[0-9]+"')[0]!.values.map((v) => v[1])).toEqual(['GET /index status=200 took=12']);
    // Backward is newest first; forward oldest first; limit counts lines.
    expect(q('{app="web"}')[0]!.values.map((v) => v[0])).toEqual([ns(T0 + 2000), ns(T0 + 1000), ns(T0)].map(String));
    expect(q('{app="web"}', 'all', { ...range, direction: 'forward', limit: 2 })[0]!.values.map((v) => v[0])).toEqual([ns(T0), ns(T0 + 1000)].map(String));

    const logfmt = q('{app="web"} | logfmt | status >= 500 | line_format "{{.status}} took {{ .took }}"');
    expect(logfmt).toEqual([{ stream: { app: 'web', namespace: 'a', status: '500', took: '340' }, values: [[String(ns(T0 + 1000)), '500 took 340']] }]);
    const json = q('{app="web"} | json | level="error" | user_id="7"');
    expect(json[0]!.stream).toMatchObject({ level: 'error', msg: 'db down', user_id: '7' });
    expect(json[0]!.values).toHaveLength(1);

    const counts = metricRangeQuery(store, 'all', parseLogQL('sum by (app) (count_over_time({app=~".+"} |= "GET" [5s]))') as never, T0, T0 + 4000, 2000);
    expect(counts.find((s) => s.metric.app === 'web')!.values).toEqual([[T0 / 1000, '1'], [(T0 + 2000) / 1000, '2'], [(T0 + 4000) / 1000, '2']]);
    const rate = metricInstantQuery(store, 'all', parseLogQL('sum(rate({app="web"}[10s]))') as never, T0 + 5000);
    expect(rate).toEqual([{ metric: {}, value: [(T0 + 5000) / 1000, '0.3'] }]);
    const bytes = metricInstantQuery(store, new Set(['b']), parseLogQL('bytes_over_time({app=~".+"}[10s])') as never, T0 + 5000);
    expect(bytes).toEqual([{ metric: { app: 'api', namespace: 'b' }, value: [(T0 + 5000) / 1000, String(Buffer.byteLength('GET /login status=500 took=1'))] }]);
    store.close();
  });

  it('reports the position of a syntax error', () => {
    const at = (q: string) => {
      try {
        parseLogQL(q);
      } catch (e) {
        expect(e).toBeInstanceOf(LogQLError);
        return (e as Error).message;
      }
      throw new Error(`${q} parsed`);
    };
    expect(at('{app="web" |= "x"')).toMatch(/col 12/);
    expect(at('{app="web"} |= ')).toMatch(/col 16/);
    expect(at('{app=~"("}')).toMatch(/col 7: invalid regular expression/);
    expect(at('count_over_time({app="x"} [5q])')).toMatch(/col 2[0-9]/);
    expect(at('{app=""}')).toMatch(/at least one matcher/);
  });

  it('retention by age deletes exactly the older lines; by size drops the oldest partitions', async () => {
    const store = seeded();
    const day = 86_400_000;
    const now = Date.UTC(2026, 10, 20, 12);
    const entries = [0, 1, 2, 3].map((d) => ({ tsNs: ns(now - d * day), line: `day -${d} ${'x'.repeat(2000)}` }));
    await store.append([{ labels: { app: 'a' }, namespace: 'n', workspace: '', entries }]);
    await store.append([{ labels: { app: 'old' }, namespace: 'n', workspace: '', entries: [{ tsNs: ns(now - 3 * day), line: 'only old' }] }]);
    const lines = () => [...store.entries({ streamIds: store.streams('all').map((s) => s.id), startNs: 0n, endNs: ns(now + 1), direction: 'forward' })].map((e) => e.line.slice(0, 7));
    // 36 h: the lines of one and a half days ago and older go, the boundary inside a partition included.
    expect(store.enforceRetention({ maxAgeMs: 36 * 3_600_000 }, now)).toBe(3);
    expect(lines()).toEqual(['day -1 ', 'day -0 ']);
    // The stream with nothing left is gone from the label index.
    expect(store.streams('all').map((s) => s.labels.app)).toEqual(['a']);
    const before = store.sizeBytes();
    expect(store.enforceRetention({ maxBytes: 1 }, now)).toBe(1);
    expect(lines()).toEqual(['day -0 ']);
    expect(store.sizeBytes()).toBeLessThanOrEqual(before);
    store.close();
  });

  it('keeps every acknowledged batch when the writer is SIGKILLed mid-ingest', async () => {
    const dir = tmp();
    const script = join(dir, 'writer.mjs');
    const storeModule = new URL('../dist/sqlite-log-store.js', import.meta.url).href;
    writeFileSync(script, `
      import { SqliteLogStore } from ${JSON.stringify(storeModule)};
      const store = new SqliteLogStore(${JSON.stringify(join(dir, 'db'))});
      for (let b = 0; ; b++) {
        const entries = Array.from({ length: 200 }, (_, i) => ({ tsNs: BigInt(Date.now()) * 1000000n + BigInt(i), line: 'batch ' + b + ' line ' + i }));
        await store.append([{ labels: { app: 'w' }, namespace: 'n', workspace: '', entries }]);
        process.send({ acked: b });
      }
    `);
    const child = fork(script, { stdio: 'ignore' });
    let acked = -1;
    await new Promise<void>((resolve) => {
      child.on('message', (m: { acked: number }) => {
        acked = m.acked;
        if (acked >= 30) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const store = new SqliteLogStore(join(dir, 'db'));
    const ids = store.streams('all').map((s) => s.id);
    const batches = new Map<number, number>();
    for (const e of store.entries({ streamIds: ids, startNs: 0n, endNs: BigInt(Date.now() + 1000) * MS, direction: 'forward' })) {
      const b = Number(/^batch (\d+)/.exec(e.line)![1]);
      batches.set(b, (batches.get(b) ?? 0) + 1);
    }
    for (let b = 0; b <= acked; b++) expect(batches.get(b), `batch ${b}`).toBe(200);
    // A batch is all or nothing.
    for (const n of batches.values()) expect(n).toBe(200);
    store.close();
  });
});
