import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '@mortise/extension-sdk/util';

// Small state files of the extension (where each source stopped), replaced atomically so a
// crash leaves the old or the new content, never half of one.

export function readJsonFile<T>(file: string, fallback: T): T {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : fallback;
}

export function writeJsonFile(file: string, value: unknown): void {
  writeFileAtomicSync(file, JSON.stringify(value));
}
