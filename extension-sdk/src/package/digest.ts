import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { SHA256_HEX } from '../manifest/patterns.js';

export function sha256Hex(data: Buffer | Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && new RegExp(SHA256_HEX).test(value);
}

/** The digest in a `sha256sum`-style line ("<hex>  <file>"), or undefined. */
export function parseSha256File(text: string): string | undefined {
  const first = text.trim().split(/\s+/)[0]?.toLowerCase();
  return isSha256Hex(first) ? first : undefined;
}

export function packageFileName(name: string, version: string): string {
  return `${name}-${version}.tgz`;
}
