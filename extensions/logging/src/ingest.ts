import { EventEmitter } from 'node:events';
import { gunzipSync } from 'node:zlib';
import type Router from '@koa/router';
import type { BackendState } from '@mortise/extension-sdk/backend';
import type { Context } from 'koa';
import { Access, serviceAccountNamespace } from './access.js';
import { fail } from './http-errors.js';
import { RateLimiter, type IngestLimits } from './ingest-limits.js';
import type { LogStore, StreamBatch } from './log-store.js';
import { decodeLokiJson, decodeLokiProtobuf, decodeOtlpJson, decodeOtlpProtobuf, PushFormatError, TooManyEntries, type PushedStream } from './push-decoders.js';

// Ingest: Loki's push API and OTLP/HTTP logs. Only service accounts push, into their own
// namespace (`create logs` there); `namespace` and `workspace` labels come from the token,
// whatever the shipper sent.

const MAX_LABELS = 30;
const MAX_LABEL_VALUE = 1024;
const MAX_LINE = 256 * 1024;
/**
 * Labels that name the platform's own streams (audit-source.ts, platform-log-source.ts,
 * devops-run-source.ts). A pushed stream may not claim them: its lines would sit in what an
 * administrator reads as the audit log or an extension's log (and in a namespace's run logs).
 */
const PLATFORM_SOURCES = new Set(['audit', 'core', 'extension', 'devops']);
const PLATFORM_JOB = /^mortise\//;

/** Nanoseconds since the epoch as SQLite stores them (int64): up to the year 2262. */
const MAX_TS_NS = (1n << 63n) - 1n;

/** Appended batches, for live tails. */
export type AppendedEvents = EventEmitter<{ appended: [StreamBatch[]] }>;

class TooLarge extends Error {}

async function readBody(ctx: Context, max: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > max) throw new TooLarge(`the body is ${declared} bytes, more than the ${max} allowed`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new TooLarge(`the body is more than the ${max} bytes allowed`);
    chunks.push(chunk);
  }
  let body = Buffer.concat(chunks);
  if (/gzip/i.test(ctx.get('content-encoding'))) {
    try {
      body = gunzipSync(body, { maxOutputLength: max });
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge(`the decompressed body is more than the ${max} bytes allowed`);
      throw new PushFormatError(`the gzip body is corrupt: ${(e as Error).message}`);
    }
  }
  return body;
}

export function ingestRoutes(router: Router<BackendState>, deps: { store: LogStore; access: Access; limits: IngestLimits; events: AppendedEvents }): void {
  const limiter = new RateLimiter(deps.limits);

  const handle = (decode: (ctx: Context, body: Buffer) => PushedStream[], answer: (ctx: Context) => void) => async (ctx: Context) => {
    const who = (ctx.state as BackendState).identity;
    const namespace = serviceAccountNamespace(who.username);
    if (!namespace) return fail(ctx, 403, 'Forbidden', `${who.username} cannot push logs: push with a service-account token (see docs/logging.md)`);
    if (!(await deps.access.may(who, 'create', namespace))) {
      return fail(ctx, 403, 'Forbidden', `${who.username} may not create logs.logging.mortise.io in namespace ${namespace}`);
    }
    let body: Buffer;
    try {
      body = await readBody(ctx, deps.limits.maxBodyBytes);
    } catch (e) {
      if (e instanceof TooLarge) {
        await drain(ctx);
        return fail(ctx, 413, 'RequestEntityTooLarge', e.message);
      }
      if (e instanceof PushFormatError) return fail(ctx, 400, 'BadRequest', e.message);
      throw e;
    }
    // The budget is the namespace's, as Loki's is the tenant's: more service accounts, no more rate.
    const wait = limiter.take(namespace, body.length);
    if (wait > 0) {
      ctx.set('Retry-After', String(wait));
      return fail(ctx, 429, 'TooManyRequests', `ingestion rate limit exceeded for namespace ${namespace} (${deps.limits.bytesPerSecond} bytes/s): retry after ${wait}s`);
    }
    let streams: PushedStream[];
    try {
      streams = decode(ctx, body);
      for (const s of streams) check(s);
    } catch (e) {
      if (e instanceof PushFormatError) return fail(ctx, 400, 'BadRequest', e.message);
      if (e instanceof TooManyEntries) return fail(ctx, 413, 'RequestEntityTooLarge', e.message);
      throw e;
    }
    // The rate counts the lines' bytes, as Loki's does: a snappy body is a fraction of what it stores.
    let lineBytes = 0;
    for (const s of streams) for (const e of s.entries) lineBytes += Buffer.byteLength(e.line);
    const more = lineBytes > body.length ? limiter.take(namespace, lineBytes - body.length) : 0;
    if (more > 0) {
      ctx.set('Retry-After', String(more));
      return fail(ctx, 429, 'TooManyRequests', `ingestion rate limit exceeded for namespace ${namespace} (${deps.limits.bytesPerSecond} bytes/s of lines): retry after ${more}s`);
    }
    const workspace = await deps.access.workspaceOf(namespace);
    const batch: StreamBatch[] = streams.map((s) => ({
      // Tenancy labels are the token's, never the shipper's.
      labels: { ...s.labels, namespace, ...(workspace ? { workspace } : {}) },
      namespace, workspace, entries: s.entries,
    }));
    if (!workspace) for (const b of batch) delete b.labels.workspace;
    // Checked and appended with nothing awaited between: simultaneous pushes cannot both pass.
    const fresh = deps.store.newStreams(batch).get(namespace) ?? 0;
    const held = deps.store.streamCount(namespace);
    if (fresh > 0 && held + fresh > deps.limits.maxStreamsPerNamespace) {
      return fail(ctx, 429, 'TooManyRequests', `Maximum active stream limit exceeded, reduce the number of active streams (reduce labels or reduce label values), or contact your administrator to see if the limit can be increased: namespace ${namespace} holds ${held} streams, this push would add ${fresh}, the limit is ${deps.limits.maxStreamsPerNamespace} (nothing of it was stored)`);
    }
    await deps.store.append(batch);
    deps.events.emit('appended', batch);
    answer(ctx);
  };

  const { maxBodyBytes, maxEntries } = deps.limits;
  const lokiDecode = (ctx: Context, body: Buffer) => (/json/i.test(ctx.get('content-type')) ? decodeLokiJson(body, maxEntries) : decodeLokiProtobuf(body, maxBodyBytes, maxEntries));
  router.post('/loki/api/v1/push', handle(lokiDecode, (ctx) => { ctx.status = 204; }));

  const otlpDecode = (ctx: Context, body: Buffer) => (/json/i.test(ctx.get('content-type')) ? decodeOtlpJson(body, maxEntries) : decodeOtlpProtobuf(body, maxEntries));
  const otlpAnswer = (ctx: Context) => {
    // An empty ExportLogsServiceResponse, in the request's encoding.
    if (/json/i.test(ctx.get('content-type'))) ctx.body = {};
    else {
      ctx.type = 'application/x-protobuf';
      ctx.body = Buffer.alloc(0);
    }
    ctx.status = 200;
  };
  for (const path of ['/otlp/v1/logs', '/v1/logs']) router.post(path, handle(otlpDecode, otlpAnswer));
}

/**
 * Reads and discards the rest of a refused body, so the answer reaches a client (or the gateway)
 * still sending it; one far beyond any sane size closes the connection instead.
 */
async function drain(ctx: Context): Promise<void> {
  if (ctx.req.readableEnded) return;
  let left = 64 * 1024 * 1024;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      left -= chunk.length;
      if (left < 0) {
        ctx.set('Connection', 'close');
        return;
      }
    }
  } catch {
    // The client went away: nothing to answer.
  }
}

function check(s: PushedStream): void {
  if (Object.keys(s.labels).length > MAX_LABELS) throw new PushFormatError(`a stream has more than ${MAX_LABELS} labels`);
  if (PLATFORM_SOURCES.has(s.labels.source ?? '') || PLATFORM_JOB.test(s.labels.job ?? '')) {
    throw new PushFormatError(`source="${s.labels.source ?? ''}", job="${s.labels.job ?? ''}": source audit, core, extension and devops, and jobs mortise/…, are reserved for the platform's own streams`);
  }
  for (const [k, v] of Object.entries(s.labels)) {
    if (v.length > MAX_LABEL_VALUE) throw new PushFormatError(`the value of label ${k} is longer than ${MAX_LABEL_VALUE} characters`);
  }
  for (const e of s.entries) {
    if (e.line.length > MAX_LINE) throw new PushFormatError(`a line is longer than ${MAX_LINE} characters`);
    if (e.tsNs < 0n || e.tsNs > MAX_TS_NS) throw new PushFormatError(`timestamp ${e.tsNs} is out of range: give nanoseconds since 1970 up to ${MAX_TS_NS} (the year 2262)`);
  }
}
