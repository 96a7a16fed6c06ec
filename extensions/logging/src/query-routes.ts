import type Router from '@koa/router';
import type { BackendState } from '@mortise/extension-sdk/backend';
import type { Context } from 'koa';
import type { Access } from './access.js';
import { fail } from './http-errors.js';
import { labelValue, type LogStore } from './log-store.js';
import { LogQLError, logExprOf, parseLogQL, type LogExpr, type Matcher, type Query } from './logql.js';
import { ParamError, parseDirection, parseLimit, parseStepMs, parseTimeNs } from './loki-params.js';
import { QueryLimitError, selectStreams, type Scope } from './query-engine.js';
import { QueryBusyError, type QueryPool } from './query-pool.js';

// Loki's query API, each answer scoped to what the caller may read. Queries of lines run on the
// query pool's threads (query-pool.ts); labels and series, which read only the streams, here.

export const MAX_LIMIT = 5000;
const HOUR_NS = 3_600_000_000_000n;

const success = (ctx: Context, data: unknown) => {
  ctx.body = { status: 'success', data };
};

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

export function queryRoutes(router: Router<BackendState>, deps: { store: LogStore; access: Access; queries: QueryPool }): void {
  const scopeOf = (ctx: Context): Promise<Scope> => deps.access.scopeFor((ctx.state as BackendState).identity);

  const guarded = (handler: (ctx: Context, q: URLSearchParams, scope: Scope) => Promise<void> | void) => async (ctx: Context) => {
    try {
      await handler(ctx, ctx.URL.searchParams, await scopeOf(ctx));
    } catch (e) {
      if (e instanceof LogQLError || e instanceof ParamError) return fail(ctx, 400, 'BadRequest', e.message);
      if (e instanceof QueryLimitError) return fail(ctx, 422, 'Invalid', e.message);
      if (e instanceof QueryBusyError) {
        ctx.set('Retry-After', '1');
        return fail(ctx, 429, 'TooManyRequests', e.message);
      }
      throw e;
    }
  };

  const range = (q: URLSearchParams) => {
    const endNs = parseTimeNs(q.get('end'), nowNs(), 'end');
    const startNs = parseTimeNs(q.get('start'), endNs - HOUR_NS, 'start');
    if (startNs > endNs) throw new ParamError('start must not be after end');
    return { startNs, endNs };
  };

  /** The query, parsed here for its kind and its errors (400), and its text for the pool. */
  const parse = (q: URLSearchParams): { query: Query; text: string } => {
    const text = q.get('query');
    if (!text) throw new ParamError('the query parameter is required');
    return { query: parseLogQL(text), text };
  };

  const stats = (entries: number) => ({ summary: { totalEntriesReturned: entries } });

  router.get('/loki/api/v1/query_range', guarded(async (ctx, q, scope) => {
    const { query, text } = parse(q);
    const { startNs, endNs } = range(q);
    if (query.type === 'log') {
      const limit = parseLimit(q.get('limit'), 100, MAX_LIMIT);
      // Loki's end is exclusive for log queries.
      const result = await deps.queries.logQuery(scope, text, { startNs, endNs, limit, direction: parseDirection(q.get('direction')) });
      return success(ctx, { resultType: 'streams', result, stats: stats(result.reduce((n, s) => n + s.values.length, 0)) });
    }
    const stepMs = parseStepMs(q.get('step'), startNs, endNs);
    const startMs = Number(startNs / 1_000_000n);
    const endMs = Number(endNs / 1_000_000n);
    if ((endMs - startMs) / stepMs > 11_000) throw new ParamError('exceeded maximum resolution of 11,000 points per time series: try a larger step');
    success(ctx, { resultType: 'matrix', result: await deps.queries.metricRangeQuery(scope, text, startMs, endMs, stepMs), stats: stats(0) });
  }));

  router.get('/loki/api/v1/query', guarded(async (ctx, q, scope) => {
    const { query, text } = parse(q);
    const atNs = parseTimeNs(q.get('time'), nowNs(), 'time');
    if (query.type === 'log') {
      const limit = parseLimit(q.get('limit'), 100, MAX_LIMIT);
      const result = await deps.queries.logQuery(scope, text, { startNs: atNs - HOUR_NS, endNs: atNs, limit, direction: parseDirection(q.get('direction')) });
      return success(ctx, { resultType: 'streams', result, stats: stats(result.reduce((n, s) => n + s.values.length, 0)) });
    }
    success(ctx, { resultType: 'vector', result: await deps.queries.metricInstantQuery(scope, text, Number(atNs / 1_000_000n)), stats: stats(0) });
  }));

  /** Streams the caller may see in the range, narrowed by an optional selector (`query` or `match[]`). */
  const visible = (q: URLSearchParams, scope: Scope, selectors: string[]) => {
    const { startNs, endNs } = range(q);
    const exprs: LogExpr[] = selectors.map((s) => logExprOf(parseLogQL(s)));
    const all = selectStreams(deps.store, scope, [], { startNs, endNs });
    if (exprs.length === 0) return all;
    const ids = new Set<number>();
    for (const e of exprs) for (const s of selectStreams(deps.store, scope, e.matchers as Matcher[], { startNs, endNs })) ids.add(s.id);
    return all.filter((s) => ids.has(s.id));
  };

  router.get('/loki/api/v1/labels', guarded((ctx, q, scope) => {
    const names = new Set<string>();
    for (const s of visible(q, scope, q.get('query') ? [q.get('query')!] : [])) for (const k of Object.keys(s.labels)) names.add(k);
    success(ctx, [...names].sort());
  }));

  router.get('/loki/api/v1/label/:name/values', guarded((ctx, q, scope) => {
    const name = ctx.params.name as string;
    const values = new Set<string>();
    for (const s of visible(q, scope, q.get('query') ? [q.get('query')!] : [])) {
      const v = labelValue(s.labels, name);
      if (v !== undefined) values.add(v);
    }
    success(ctx, [...values].sort());
  }));

  router.get('/loki/api/v1/series', guarded((ctx, q, scope) => {
    const match = q.getAll('match[]').concat(q.getAll('match'));
    if (match.length === 0) throw new ParamError('at least one match[] selector is required');
    success(ctx, visible(q, scope, match).map((s) => s.labels));
  }));

  // Grafana's Loki data source asks for these when it connects.
  router.get('/loki/api/v1/status/buildinfo', (ctx) => {
    ctx.body = { version: '3.0.0', revision: 'mortise-logging', branch: '', buildUser: '', buildDate: '', goVersion: '' };
  });
}
