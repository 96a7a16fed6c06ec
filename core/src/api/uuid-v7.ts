import { randomFillSync } from 'node:crypto';

// UUIDs in time order (version 7, RFC 9562): the first 48 bits are the Unix time in ms, the
// other 74 (beside version and variant) random. Object uids and audit IDs are keys of SQLite
// indexes: random (v4) ones land each insert on another leaf page, and every commit writes every
// page it touched to the WAL — a page per create, per audit event. In time order consecutive
// inserts share the index's last page. They are UUIDs all the same (clients compare them as
// strings) and as hard to guess: 74 random bits per millisecond.

const pool = Buffer.alloc(16 * 256);
let offset = pool.length;
const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function uuidV7(now = Date.now()): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const b = pool.subarray(offset, offset + 16);
  offset += 16;
  b[0] = Math.floor(now / 2 ** 40) & 0xff;
  b[1] = Math.floor(now / 2 ** 32) & 0xff;
  b[2] = (now >>> 24) & 0xff;
  b[3] = (now >>> 16) & 0xff;
  b[4] = (now >>> 8) & 0xff;
  b[5] = now & 0xff;
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = (i: number) => hex[b[i]!]!;
  return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
}
