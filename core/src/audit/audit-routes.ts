import { Readable } from 'node:stream';
import Router from '@koa/router';
import { badRequest, notFound } from '../api/status.js';
import type { AppState } from '../http/app-state.js';
import { auditGroup, auditVersion, InvalidContinueError, type AuditEvent, type AuditFilter, type AuditLog } from './audit-log.js';
import { defaultAuditLimit, maxAuditLimit } from './sqlite-audit-log.js';

const base = `/kapis/${auditGroup}/${auditVersion}/events`;
const stringFilters = ['user', 'verb', 'resource', 'apiGroup', 'namespace', 'workspace', 'name'] as const;
const allowedParams = new Set<string>([...stringFilters, 'code', 'since', 'until', 'limit', 'continue', 'format']);
const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const jsonLinesType = /application\/(jsonl|x-ndjson)/i;

/**
 * GET /kapis/audit.mortise.io/v1alpha1/events: the audit log, filtered and paged (newest
 * first), or exported as JSON lines (oldest first). It sits behind authentication and
 * authorization like any API: the request is `list events.audit.mortise.io`.
 */
export function auditRouter(log: AuditLog): Router<AppState> {
  const router = new Router<AppState>();

  router.get(base, async (ctx) => {
    ctx.state.routeLabel = `kapis/${auditGroup}/events`;
    const q = ctx.URL.searchParams;
    const filter = filterOf(q);
    const format = q.get('format') ?? (jsonLinesType.test(ctx.get('accept')) ? 'jsonl' : 'json');
    if (format === 'jsonl') {
      if (filter.continue !== undefined) throw badRequest('continue pages a list; an export (format=jsonl) streams every matching event');
      ctx.type = /x-ndjson/i.test(ctx.get('accept')) ? 'application/x-ndjson' : 'application/jsonl';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = Readable.from(jsonLines(log.export(filter)));
      return;
    }
    if (format !== 'json') throw badRequest(`format must be "json" or "jsonl", got "${format}"`);
    let page;
    try {
      page = await log.query(filter);
    } catch (e) {
      if (e instanceof InvalidContinueError) throw badRequest(e.message);
      throw e;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      apiVersion: `${auditGroup}/${auditVersion}`,
      kind: 'EventList',
      metadata: page.continue ? { continue: page.continue } : {},
      items: page.items,
    };
  });

  router.get(`${base}/:auditID`, async (ctx) => {
    ctx.state.routeLabel = `kapis/${auditGroup}/events/name`;
    const event = await log.get(ctx.params.auditID!);
    if (!event) throw notFound(auditGroup, 'events', ctx.params.auditID);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { apiVersion: `${auditGroup}/${auditVersion}`, kind: 'Event', ...event };
  });

  return router;
}

/** Query parameters → a filter; anything malformed (or unknown: a typo must not widen the answer) is a 400. */
export function filterOf(q: URLSearchParams): AuditFilter {
  for (const key of new Set(q.keys())) {
    if (!allowedParams.has(key)) throw badRequest(`unknown query parameter "${key}"; the filters are ${[...allowedParams].join(', ')}`);
    if (q.getAll(key).length > 1) throw badRequest(`give "${key}" once`);
  }
  const filter: AuditFilter = {};
  for (const key of stringFilters) {
    const v = q.get(key);
    if (v) filter[key] = v;
  }
  // The core group has no name: "core" stands for it (a real group always has a dot).
  if (filter.apiGroup === 'core') filter.apiGroup = '';

  const code = q.get('code');
  if (code) {
    if (/^[1-5]\d\d$/.test(code)) filter.code = Number(code);
    else if (/^[1-5]xx$/i.test(code)) filter.code = { min: Number(code[0]) * 100, max: Number(code[0]) * 100 + 99 };
    else throw badRequest(`code must be an HTTP status (e.g. 403) or a class (2xx, 4xx, 5xx), got "${code}"`);
  }
  filter.since = timeOf(q, 'since');
  filter.until = timeOf(q, 'until');
  if (filter.since && filter.until && filter.since >= filter.until) throw badRequest('since must be before until');

  const limit = q.get('limit');
  if (limit !== null) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1) throw badRequest(`limit must be a positive integer, got "${limit}"`);
    filter.limit = Math.min(Number(limit), maxAuditLimit);
  } else {
    filter.limit = defaultAuditLimit;
  }
  const cont = q.get('continue');
  if (cont) filter.continue = cont;
  return filter;
}

function timeOf(q: URLSearchParams, key: 'since' | 'until'): Date | undefined {
  const v = q.get(key);
  if (!v) return undefined;
  const t = rfc3339.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw badRequest(`${key} must be an RFC3339 time (e.g. 2025-01-31T12:00:00Z), got "${v}"`);
  return new Date(t);
}

/** JSON lines in chunks of about 64 KiB: one write per event would be slow, one for all would buffer. */
async function* jsonLines(events: AsyncIterable<AuditEvent>): AsyncGenerator<string> {
  let chunk = '';
  for await (const e of events) {
    chunk += `${JSON.stringify(e)}\n`;
    if (chunk.length >= 64 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}
