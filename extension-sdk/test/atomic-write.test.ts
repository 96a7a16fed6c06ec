import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../src/util/atomic-write.js';

const dir = mkdtempSync(join(tmpdir(), 'mortise-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each([
  ['writeFileAtomic', writeFileAtomic],
  ['writeFileAtomicSync', writeFileAtomicSync],
] as const)('%s', (name, write) => {
  it('replaces the whole file with the mode asked for, and leaves no temporary file', async () => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, 'old content, longer than the new one');
    await write(file, '{"a":1}', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}');
    expect(readdirSync(dir).filter((n) => n.startsWith(name))).toEqual([`${name}.json`]);
    await write(join(dir, `${name}-new`), Buffer.from('x'), 0o600);
    expect(statSync(join(dir, `${name}-new`)).mode & 0o777).toBe(0o600);
  });

  it('fails when the rename fails, leaving the target as it was and no temporary file beside it', async () => {
    // A directory cannot be replaced by a file: the temporary file is written, the rename fails.
    const target = join(dir, `${name}-a-dir`);
    mkdirSync(join(target, 'inside'), { recursive: true });
    await expect(Promise.resolve().then(() => write(target, 'x'))).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(statSync(join(target, 'inside')).isDirectory()).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('writeFileAtomicSync in a backend confined by Node\'s permission model', () => {
  it('writes although fsync is denied there (Node 20)', () => {
    const flag = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
    const moduleUrl = new URL('../dist/util/atomic-write.js', import.meta.url).href;
    const file = join(dir, 'confined.json');
    execFileSync(process.execPath, [
      flag, `--allow-fs-read=${fileURLToPath(new URL('..', import.meta.url))}`, `--allow-fs-read=${dir}`, `--allow-fs-write=${dir}`, '--input-type=module',
      '-e', `import { writeFileAtomicSync } from ${JSON.stringify(moduleUrl)}; writeFileAtomicSync(${JSON.stringify(file)}, '{"cursor":7}');`,
    ], { stdio: 'pipe', cwd: dir });
    expect(readFileSync(file, 'utf8')).toBe('{"cursor":7}');
  });
});
