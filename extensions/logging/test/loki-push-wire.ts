import { createRequire } from 'node:module';
import type protobufType from 'protobufjs';

// Loki's push wire format as promtail sends it: a PushRequest in protobuf, snappy-compressed.
// Encoded here with the same libraries the extension decodes with (protobufjs, snappyjs), from
// Loki's own message definitions (push.proto), not with the extension's code.

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof protobufType;
export const snappy = require('snappyjs') as { compress(b: Uint8Array): Uint8Array };

export const PushRequest = protobuf.Root.fromJSON({ nested: {
  PushRequest: { fields: { streams: { rule: 'repeated', type: 'StreamAdapter', id: 1 } } },
  StreamAdapter: { fields: { labels: { type: 'string', id: 1 }, entries: { rule: 'repeated', type: 'EntryAdapter', id: 2 } } },
  EntryAdapter: { fields: { timestamp: { type: 'Timestamp', id: 1 }, line: { type: 'string', id: 2 } } },
  Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
} }).lookupType('PushRequest');
