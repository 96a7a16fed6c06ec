import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { parseLogQL, type LogExpr } from '../../extensions/logging/dist/logql.js';
import { logQuery } from '../../extensions/logging/dist/query-engine.js';
import { SqliteLogStore } from '../../extensions/logging/dist/sqlite-log-store.js';
import { percentile } from './load.js';

// The logging extension's store: ingest of `lines` lines of ~200 bytes in batches of 1,000
// next to raw SQLite inserts of the same rows (one plain table, same batches, same pragmas),
// keyword and label queries over them, and disk bytes per line.

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

export interface LogStoreFigures {
  lines: number;
  ingestLinesPerSec: number;
  ingestMBPerSec: number;
  rawLinesPerSec: number;
  keywordP50Ms: number;
  keywordP99Ms: number;
  labelP50Ms: number;
  labelP99Ms: number;
  bytesPerLine: number;
}

const words = ['checkout', 'payment', 'login', 'search', 'cart', 'invoice', 'shipping', 'refund', 'profile', 'inventory'];

function line(i: number): string {
  // ~200 bytes, with a rare token (`req-<i>`) for keyword queries.
  const w = words[i % words.length]!;
  return `level=info ts=2026-12-01T00:00:00Z caller=${w}.go:${i % 997} msg="handled ${w} request" id=req-${i} user=u${i % 5000} took=${i % 1000}ms path=/api/v1/${w}/${i % 100} status=200 bytes=${(i * 7) % 65536} agent=bench`;
}

const dirBytes = (d: string): number => readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0);

export async function logStoreBench(lines: number): Promise<LogStoreFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-logbench-'));
  try {
    const start = Date.now() - 3_600_000;
    const batches = Math.ceil(lines / 1000);
    const apps = ['web', 'api', 'worker', 'cron'];
    let bytes = 0;
    const store = new SqliteLogStore(join(dir, 'store'));
    let t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      const entries = [];
      for (let i = b * 1000; i < Math.min(lines, (b + 1) * 1000); i++) {
        const l = line(i);
        bytes += l.length;
        entries.push({ tsNs: BigInt(start) * 1_000_000n + BigInt(i) * 1000n, line: l });
      }
      await store.append([{ labels: { app: apps[b % apps.length]!, namespace: 'bench' }, namespace: 'bench', workspace: 'ws', entries }]);
    }
    const ingestSec = (performance.now() - t0) / 1000;

    const raw = new Database(join(dir, 'raw.db'));
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.exec('CREATE TABLE lines (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, stream_id INTEGER NOT NULL, line TEXT NOT NULL)');
    const ins = raw.prepare('INSERT INTO lines (ts, stream_id, line) VALUES (?, ?, ?)');
    t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      raw.transaction(() => {
        for (let i = b * 1000; i < Math.min(lines, (b + 1) * 1000); i++) ins.run(BigInt(start) * 1_000_000n + BigInt(i) * 1000n, b % apps.length, line(i));
      })();
    }
    const rawSec = (performance.now() - t0) / 1000;
    raw.close();

    const range = { startNs: BigInt(start - 1000) * 1_000_000n, endNs: BigInt(Date.now()) * 1_000_000n, limit: 100, direction: 'backward' as const };
    const timed = (queries: string[]) => {
      const ms: number[] = [];
      for (const q of queries) {
        const expr = parseLogQL(q) as LogExpr;
        const t = performance.now();
        logQuery(store, new Set(['bench']), expr, range);
        ms.push(performance.now() - t);
      }
      return ms.sort((a, b) => a - b);
    };
    const keyword = timed(Array.from({ length: 100 }, (_, k) => `{namespace="bench"} |= "id=req-${Math.floor((k * 7919) % lines)} "`));
    const label = timed(Array.from({ length: 100 }, (_, k) => `{app="${apps[k % apps.length]}"}`));
    store.close();
    return {
      lines,
      ingestLinesPerSec: Math.round(lines / ingestSec),
      ingestMBPerSec: Number((bytes / 1e6 / ingestSec).toFixed(1)),
      rawLinesPerSec: Math.round(lines / rawSec),
      keywordP50Ms: Number(percentile(keyword, 50).toFixed(1)),
      keywordP99Ms: Number(percentile(keyword, 99).toFixed(1)),
      labelP50Ms: Number(percentile(label, 50).toFixed(1)),
      labelP99Ms: Number(percentile(label, 99).toFixed(1)),
      bytesPerLine: Math.round(dirBytes(join(dir, 'store')) / lines),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node bench/dist/log-store-bench.js [lines]` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await logStoreBench(Number(process.argv[2] ?? 1_000_000)), null, 1));
}
