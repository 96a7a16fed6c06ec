import { createRequire } from 'node:module';
import type protobufType from 'protobufjs';

// Decoders for the formats real shippers send: Loki's push API (JSON, and protobuf compressed
// with snappy's block format) and OTLP/HTTP logs (JSON and protobuf). Each turns a body into
// streams of (nanosecond timestamp, line) under the labels the shipper gave.

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof protobufType;
const snappy = require('snappyjs') as { uncompress(data: Uint8Array, maxLength?: number): Uint8Array };

export interface PushedStream { labels: Record<string, string>; entries: Array<{ tsNs: bigint; line: string }> }

export class PushFormatError extends Error {}
/** A push within the byte limits holding more streams and lines than allowed (413). */
export class TooManyEntries extends Error {
  constructor(n: number, max: number) {
    super(`the push holds ${n} streams and lines, more than the ${max} allowed in one push: send smaller batches`);
  }
}

/**
 * How many messages sit along `path` (field numbers, outermost first) of a protobuf body — each
 * level's, streams and their entries — counted by walking the wire format without decoding: two
 * bytes of an empty entry would otherwise become an object of ~160 bytes each (8 MiB: 4 M lines,
 * 650 MB, seconds of the only thread) before any limit could look at them.
 */
function countFields(body: Uint8Array, path: number[]): number {
  const walk = (reader: protobufType.Reader, end: number, depth: number): number => {
    let n = 0;
    while (reader.pos < end) {
      const tag = reader.uint32();
      if (tag >>> 3 === path[depth] && (tag & 7) === 2) {
        n++;
        if (depth === path.length - 1) {
          reader.skipType(2);
        } else {
          const len = reader.uint32();
          n += walk(reader, reader.pos + len, depth + 1);
        }
      } else reader.skipType(tag & 7);
    }
    return n;
  };
  try {
    return walk(protobuf.Reader.create(body), body.length, 0);
  } catch (e) {
    throw new PushFormatError(`the body is not valid protobuf: ${(e as Error).message}`);
  }
}

function checkCount(n: number, max: number): void {
  if (n > max) throw new TooManyEntries(n, max);
}

// Loki's push.proto (PushRequest → StreamAdapter → EntryAdapter) and OTLP's logs.proto, the
// fields we read, as protobufjs JSON descriptors.
const root = protobuf.Root.fromJSON({
  nested: {
    loki: {
      nested: {
        PushRequest: { fields: { streams: { rule: 'repeated', type: 'StreamAdapter', id: 1 } } },
        StreamAdapter: { fields: { labels: { type: 'string', id: 1 }, entries: { rule: 'repeated', type: 'EntryAdapter', id: 2 } } },
        EntryAdapter: { fields: { timestamp: { type: 'Timestamp', id: 1 }, line: { type: 'string', id: 2 } } },
        Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
      },
    },
    otlp: {
      nested: {
        ExportLogsServiceRequest: { fields: { resourceLogs: { rule: 'repeated', type: 'ResourceLogs', id: 1 } } },
        ResourceLogs: { fields: { resource: { type: 'Resource', id: 1 }, scopeLogs: { rule: 'repeated', type: 'ScopeLogs', id: 2 } } },
        Resource: { fields: { attributes: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
        ScopeLogs: { fields: { scope: { type: 'InstrumentationScope', id: 1 }, logRecords: { rule: 'repeated', type: 'LogRecord', id: 2 } } },
        InstrumentationScope: { fields: { name: { type: 'string', id: 1 }, version: { type: 'string', id: 2 } } },
        LogRecord: {
          fields: {
            timeUnixNano: { type: 'fixed64', id: 1 }, observedTimeUnixNano: { type: 'fixed64', id: 11 }, severityNumber: { type: 'int32', id: 2 },
            severityText: { type: 'string', id: 3 }, body: { type: 'AnyValue', id: 5 }, attributes: { rule: 'repeated', type: 'KeyValue', id: 6 },
            traceId: { type: 'bytes', id: 9 }, spanId: { type: 'bytes', id: 10 },
          },
        },
        KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
        AnyValue: {
          oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] } },
          fields: {
            stringValue: { type: 'string', id: 1 }, boolValue: { type: 'bool', id: 2 }, intValue: { type: 'int64', id: 3 }, doubleValue: { type: 'double', id: 4 },
            arrayValue: { type: 'ArrayValue', id: 5 }, kvlistValue: { type: 'KeyValueList', id: 6 }, bytesValue: { type: 'bytes', id: 7 },
          },
        },
        ArrayValue: { fields: { values: { rule: 'repeated', type: 'AnyValue', id: 1 } } },
        KeyValueList: { fields: { values: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
      },
    },
  },
});
const PushRequest = root.lookupType('loki.PushRequest');
const ExportLogsServiceRequest = root.lookupType('otlp.ExportLogsServiceRequest');
const toObject = { longs: String, bytes: String, defaults: false } as const;

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Loki's label string: `{name="value", other="x"}` (Prometheus syntax, Go-escaped values). */
export function parseLabelString(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const body = s.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) throw new PushFormatError(`labels must look like {name="value"}, got ${JSON.stringify(s.slice(0, 80))}`);
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  const inner = body.slice(1, -1);
  re.lastIndex = 0;
  while (re.lastIndex < inner.length) {
    const at = re.lastIndex;
    const m = re.exec(inner);
    if (!m) {
      if (inner.slice(at).trim() === '') break;
      throw new PushFormatError(`invalid labels ${JSON.stringify(s.slice(0, 80))} at character ${at + 2}`);
    }
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

function checkLabels(labels: unknown): Record<string, string> {
  if (!labels || typeof labels !== 'object' || Array.isArray(labels)) throw new PushFormatError('stream must be an object of label names to strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    if (!LABEL_NAME.test(k)) throw new PushFormatError(`invalid label name ${JSON.stringify(k)}`);
    if (typeof v !== 'string') throw new PushFormatError(`the value of label ${k} must be a string`);
    out[k] = v;
  }
  return out;
}

const NS = /^\d{1,19}$/;

/** `{"streams":[{"stream":{...},"values":[["<ns>","line"(, {structured metadata})]]}]}` */
function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new PushFormatError(`the body is not JSON: ${(e as Error).message}`);
  }
}

export function decodeLokiJson(body: Buffer, maxEntries: number): PushedStream[] {
  const parsed = parseJson(body);
  const streams = (parsed as { streams?: unknown })?.streams;
  if (!Array.isArray(streams)) throw new PushFormatError('the body must be {"streams": [...]}');
  checkCount(streams.reduce((n: number, s: { values?: unknown }) => n + 1 + (Array.isArray(s?.values) ? s.values.length : 0), 0), maxEntries);
  return streams.map((s: { stream?: unknown; values?: unknown }, i) => {
    const labels = checkLabels(s?.stream ?? {});
    if (!Array.isArray(s?.values)) throw new PushFormatError(`streams[${i}].values must be a list of [timestamp, line]`);
    const entries = s.values.map((v: unknown, j: number) => {
      if (!Array.isArray(v) || typeof v[0] !== 'string' || !NS.test(v[0]) || typeof v[1] !== 'string') {
        throw new PushFormatError(`streams[${i}].values[${j}] must be ["<unix epoch in nanoseconds>", "<line>"]`);
      }
      return { tsNs: BigInt(v[0]), line: v[1] };
    });
    return { labels, entries };
  });
}

/** The protobuf PushRequest, snappy block-compressed (what promtail, Alloy and pino-loki send by default). */
export function decodeLokiProtobuf(body: Buffer, maxBytes: number, maxEntries: number): PushedStream[] {
  let raw: Uint8Array;
  try {
    raw = snappy.uncompress(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), maxBytes);
  } catch (e) {
    throw new PushFormatError(`the body is not snappy-compressed protobuf within ${maxBytes} bytes: ${(e as Error).message}`);
  }
  // PushRequest.streams (1) → StreamAdapter.entries (2).
  checkCount(countFields(raw, [1, 2]), maxEntries);
  let msg: { streams?: Array<{ labels?: string; entries?: Array<{ timestamp?: { seconds?: string; nanos?: number }; line?: string }> }> };
  try {
    msg = PushRequest.toObject(PushRequest.decode(raw), toObject) as typeof msg;
  } catch (e) {
    throw new PushFormatError(`the body is not a Loki PushRequest: ${(e as Error).message}`);
  }
  return (msg.streams ?? []).map((s) => ({
    labels: parseLabelString(s.labels ?? '{}'),
    entries: (s.entries ?? []).map((e) => ({
      tsNs: BigInt(e.timestamp?.seconds ?? '0') * 1_000_000_000n + BigInt(e.timestamp?.nanos ?? 0),
      line: e.line ?? '',
    })),
  }));
}

type AnyValue = { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number; arrayValue?: { values?: AnyValue[] }; kvlistValue?: { values?: KeyValue[] }; bytesValue?: string };
type KeyValue = { key?: string; value?: AnyValue };

function anyValue(v: AnyValue | undefined): unknown {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key ?? '', anyValue(kv.value)]));
  return '';
}

/** Numbers and booleans bare, anything else as a quoted string (structured values as JSON). */
const logfmtValue = (v: unknown) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(typeof v === 'string' ? v : JSON.stringify(v)));

const labelName = (key: string) => key.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1');

/**
 * OTLP logs as Loki maps them: resource attributes become stream labels (dots → underscores,
 * `service.name` → `service_name`), the severity becomes `level`, the body is the line (JSON for
 * a structured body), and a string body gets the record's attributes appended as logfmt pairs
 * (we keep no structured metadata; `| logfmt` extracts them).
 */
function fromOtlp(msg: { resourceLogs?: Array<{ resource?: { attributes?: KeyValue[] }; scopeLogs?: Array<{ logRecords?: Array<Record<string, unknown>> }> }> }): PushedStream[] {
  const out: PushedStream[] = [];
  for (const rl of msg.resourceLogs ?? []) {
    const labels: Record<string, string> = {};
    for (const kv of rl.resource?.attributes ?? []) {
      const v = anyValue(kv.value);
      if (kv.key && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) labels[labelName(kv.key)] = String(v);
    }
    const bySeverity = new Map<string, PushedStream>();
    for (const sl of rl.scopeLogs ?? []) {
      for (const r of sl.logRecords ?? []) {
        const rec = r as { timeUnixNano?: string | number; observedTimeUnixNano?: string | number; severityText?: string; severityNumber?: number; body?: AnyValue; attributes?: KeyValue[] };
        const ts = BigInt(String(rec.timeUnixNano ?? 0)) || BigInt(String(rec.observedTimeUnixNano ?? 0)) || BigInt(Date.now()) * 1_000_000n;
        const body = anyValue(rec.body);
        const attrs = Object.fromEntries((rec.attributes ?? []).map((kv) => [kv.key ?? '', anyValue(kv.value)]));
        let line = typeof body === 'string' ? body : JSON.stringify(body);
        if (Object.keys(attrs).length) line = typeof body === 'string' ? `${line} ${Object.entries(attrs).map(([k, v]) => `${labelName(k)}=${logfmtValue(v)}`).join(' ')}` : line;
        const severity = (rec.severityText ?? '').toLowerCase();
        let stream = bySeverity.get(severity);
        if (!stream) bySeverity.set(severity, (stream = { labels: { ...labels, ...(severity ? { level: severity } : {}) }, entries: [] }));
        stream.entries.push({ tsNs: ts, line });
      }
    }
    out.push(...bySeverity.values());
  }
  return out;
}

export function decodeOtlpJson(body: Buffer, maxEntries: number): PushedStream[] {
  const parsed = parseJson(body);
  if (!parsed || typeof parsed !== 'object' || !Array.isArray((parsed as { resourceLogs?: unknown }).resourceLogs)) throw new PushFormatError('the body must be an ExportLogsServiceRequest {"resourceLogs": [...]}');
  let n = 0;
  for (const rl of (parsed as { resourceLogs: Array<{ scopeLogs?: unknown }> }).resourceLogs) {
    n++;
    for (const sl of Array.isArray(rl?.scopeLogs) ? rl.scopeLogs as Array<{ logRecords?: unknown }> : []) n += 1 + (Array.isArray(sl?.logRecords) ? sl.logRecords.length : 0);
  }
  checkCount(n, maxEntries);
  try {
    // The JSON mapping is the protobuf one: verify and normalise through the same message type.
    // trace and span ids are hex in OTLP/JSON but bytes to protobufjs: we do not keep them.
    for (const rl of (parsed as { resourceLogs: Array<{ scopeLogs?: Array<{ logRecords?: Array<Record<string, unknown>> }> }> }).resourceLogs) {
      for (const sl of rl?.scopeLogs ?? []) for (const r of sl?.logRecords ?? []) if (r && typeof r === 'object') { delete r.traceId; delete r.spanId; }
    }
    return fromOtlp(ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.fromObject(parsed), toObject) as Parameters<typeof fromOtlp>[0]);
  } catch (e) {
    throw new PushFormatError(`the body is not an OTLP ExportLogsServiceRequest: ${(e as Error).message}`);
  }
}

export function decodeOtlpProtobuf(body: Buffer, maxEntries: number): PushedStream[] {
  // ExportLogsServiceRequest.resourceLogs (1) → ResourceLogs.scopeLogs (2) → ScopeLogs.logRecords (2).
  checkCount(countFields(body, [1, 2, 2]), maxEntries);
  try {
    return fromOtlp(ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.decode(body), toObject) as Parameters<typeof fromOtlp>[0]);
  } catch (e) {
    throw new PushFormatError(`the body is not an OTLP ExportLogsServiceRequest: ${(e as Error).message}`);
  }
}
