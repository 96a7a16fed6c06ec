import { randomUUID } from 'node:crypto';

// UUIDs in time order (version 7, RFC 9562): the first 48 bits are the Unix time in ms, the
// other 74 (beside version and variant) random. Object uids and audit IDs are keys of SQLite
// indexes: random (v4) ones land each insert on another leaf page, and every commit writes every
// page it touched to the WAL — a page per create, per audit event. In time order consecutive
// inserts share the index's last page. They are UUIDs all the same (clients compare them as
// strings) and as hard to guess: 74 random bits per millisecond.

let lastMs = -1;
let timePart = '';

export function uuidV7(now = Date.now()): string {
  // A v4 UUID (Node batches its entropy) with its first 48 bits replaced by the time and its
  // version nibble by 7: the variant bits and the 74 random bits stay as randomUUID made them.
  if (now !== lastMs) {
    const t = Math.floor(now).toString(16).padStart(12, '0').slice(-12);
    timePart = `${t.slice(0, 8)}-${t.slice(8, 12)}-7`;
    lastMs = now;
  }
  return timePart + randomUUID().slice(15);
}
