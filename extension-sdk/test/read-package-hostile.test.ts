import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractPackage, PackageError, readPackage, sha256Hex, type PackageErrorCode, type PackageLimits } from '../src/index.js';
import { tempDir } from './helpers/fixtures.js';
import { manifestEntry, tarOf, tgzOf } from './helpers/tar-builder.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

type HostileCase = [description: string, archive: () => Buffer, code: PackageErrorCode, message: RegExp, limits?: Partial<PackageLimits>];

const ok = manifestEntry();
const corruptChecksum = () => {
  const tar = tarOf([ok, { path: 'a.txt', data: 'a' }]);
  tar[512 * 2 + 10] ^= 0x20; // a byte of the second entry's header path
  return gzipSync(tar);
};
const corruptGzip = () => {
  const tgz = tgzOf([ok, { path: 'a.txt', data: 'x'.repeat(5000) }]);
  for (let i = 20; i < 40; i++) tgz[i] ^= 0xff;
  return tgz;
};

const cases: HostileCase[] = [
  ['a "../" path', () => tgzOf([ok, { path: '../evil', data: 'x' }]), 'UNSAFE_PATH', /^package entry "\.\.\/evil" escapes the package root$/],
  ['a ".." in the middle', () => tgzOf([ok, { path: 'a/../../evil', data: 'x' }]), 'UNSAFE_PATH', /"a\/\.\.\/\.\.\/evil" escapes the package root/],
  ['an absolute path', () => tgzOf([ok, { path: '/etc/cron.d/evil', data: 'x' }]), 'UNSAFE_PATH', /"\/etc\/cron.d\/evil" is an absolute path/],
  ['a ".." path hidden in a pax header', () => tgzOf([ok, { path: '../../.bashrc', data: 'x', pax: true }]), 'UNSAFE_PATH', /"\.\.\/\.\.\/\.bashrc" escapes the package root/],
  ['a Windows-style path', () => tgzOf([ok, { path: 'a\\..\\..\\evil', data: 'x' }]), 'UNSAFE_PATH', /contains a backslash/],
  ['a drive letter', () => tgzOf([ok, { path: 'C:/evil', data: 'x' }]), 'UNSAFE_PATH', /drive letter/],
  ['a symbolic link', () => tgzOf([ok, { path: 'link', type: 'SymbolicLink', linkpath: '/etc/passwd' }]), 'UNSUPPORTED_ENTRY', /"link" is a symbolic link/],
  ['a hard link', () => tgzOf([ok, { path: 'hard', type: 'Link', linkpath: 'extension.yaml' }]), 'UNSUPPORTED_ENTRY', /"hard" is a hard link/],
  ['a character device', () => tgzOf([ok, { path: 'tty', type: 'CharacterDevice' }]), 'UNSUPPORTED_ENTRY', /"tty" is a character device/],
  ['a block device', () => tgzOf([ok, { path: 'sda', type: 'BlockDevice' }]), 'UNSUPPORTED_ENTRY', /"sda" is a block device/],
  ['a FIFO', () => tgzOf([ok, { path: 'pipe', type: 'FIFO' }]), 'UNSUPPORTED_ENTRY', /"pipe" is a FIFO/],
  ['the same file twice', () => tgzOf([ok, { path: 'a.txt', data: '1' }, { path: './a.txt', data: '2' }]), 'DUPLICATE_ENTRY', /"\.\/a.txt" appears more than once/],
  ['names differing only by case', () => tgzOf([ok, { path: 'README.md', data: '1' }, { path: 'readme.md', data: '2' }]), 'DUPLICATE_ENTRY', /differs from "README.md" only by letter case/],
  ['a file that is also a directory', () => tgzOf([ok, { path: 'a', data: '1' }, { path: 'a/b', data: '2' }]), 'DUPLICATE_ENTRY', /conflicts with "a"/],
  ['no extension.yaml', () => tgzOf([{ path: 'README.md', data: '#' }]), 'MISSING_MANIFEST', /no extension.yaml at its root/],
  ['extension.yaml only in a subdirectory', () => tgzOf([{ ...ok, path: 'package/extension.yaml' }]), 'MISSING_MANIFEST', /no extension.yaml at its root/],
  ['an invalid extension.yaml', () => tgzOf([manifestEntry({ version: 'one' })]), 'INVALID_MANIFEST', /\/version: must be a valid semver version/],
  ['a manifest naming a file the package lacks', () => tgzOf([manifestEntry({ backend: { entry: 'dist/server.js' } })]), 'INVALID_MANIFEST', /\/backend\/entry: file "dist\/server.js" does not exist in the package/],
  ['a truncated archive', () => tgzOf([ok, { path: 'a.txt', data: 'short', size: 4000 }], { endMarker: false }), 'CORRUPT_ARCHIVE', /truncated/],
  ['a header with a bad checksum', corruptChecksum, 'CORRUPT_ARCHIVE', /bad checksum/],
  ['data that is not gzip', () => tarOf([ok]), 'CORRUPT_ARCHIVE', /not a gzip-compressed tar archive/],
  ['damaged gzip data', corruptGzip, 'CORRUPT_ARCHIVE', /not valid gzip data|bad checksum|truncated/],
  ['too many files', () => tgzOf([ok, ...Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, data: 'x' }))]), 'TOO_MANY_FILES', /more than 4 entries/, { maxFiles: 4 }],
  ['a file over the per-file limit', () => tgzOf([ok, { path: 'big.bin', data: Buffer.alloc(3000) }]), 'TOO_LARGE', /"big.bin" is 2\.9 KiB, more than the 2\.0 KiB allowed per file/, { maxFileSize: 2048 }],
  ['a header claiming a huge file (checked before reading it)', () => tgzOf([ok, { path: 'huge.bin', size: 8 * 1024 ** 3 }], { endMarker: false }), 'TOO_LARGE', /"huge.bin" is 8192\.0 MiB/],
  ['a gzip bomb over the total limit', () => tgzOf([ok, ...Array.from({ length: 4 }, (_, i) => ({ path: `zeros${i}`, data: Buffer.alloc(512 * 1024) }))]), 'TOO_LARGE', /unpacks to more than the 1\.0 MiB allowed/, { maxTotalSize: 1024 * 1024 }],
  ['a compressed package over the size limit', () => tgzOf([ok, { path: 'noise', data: randomBytes(4096) }]), 'TOO_LARGE', /package is .* more than the 1\.0 KiB allowed/, { maxPackageSize: 1024 }],
];

async function leftovers(): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name !== 'pkg.tgz');
}

describe('reading hostile packages', () => {
  it.each(cases)('readPackage refuses %s', async (_d, archive, code, message, limits) => {
    const error = await readPackage(archive(), limits ?? {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).code).toBe(code);
    expect((error as PackageError).message).toMatch(message);
  });

  it.each(cases)('extractPackage refuses %s and leaves nothing behind', async (_d, archive, code, message, limits) => {
    await writeFile(join(dir, 'pkg.tgz'), archive());
    const destination = join(dir, 'installed');
    const error = await extractPackage(join(dir, 'pkg.tgz'), destination, limits ?? {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).code).toBe(code);
    expect((error as PackageError).message).toMatch(message);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses a package whose sha256 is not the expected one, before unpacking anything', async () => {
    const archive = tgzOf([ok]);
    await writeFile(join(dir, 'pkg.tgz'), archive);
    const wrong = sha256Hex('something else');
    await expect(readPackage(archive, { expectedSha256: wrong })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(extractPackage(join(dir, 'pkg.tgz'), join(dir, 'installed'), { expectedSha256: wrong })).rejects.toThrow(
      `package sha256 is ${sha256Hex(archive)}, expected ${wrong}`,
    );
    expect(await leftovers()).toEqual([]);
  });
});

describe('reading well-formed packages', () => {
  const archive = () =>
    tgzOf([
      { path: './', type: 'Directory' },
      { ...ok, path: './extension.yaml' },
      { path: 'bin/', type: 'Directory' },
      { path: 'bin/run.sh', data: '#!/bin/sh\n', mode: 0o4755 },
      { path: 'docs/guide.md', data: '# Guide' },
    ]);

  it('readPackage returns the manifest, the digest and normalized files', async () => {
    const bytes = archive();
    const pkg = await readPackage(bytes, { expectedSha256: sha256Hex(bytes) });
    expect(pkg.manifest.name).toBe('hello');
    expect(pkg.sha256).toBe(sha256Hex(bytes));
    expect([...pkg.files.keys()]).toEqual(['extension.yaml', 'bin/run.sh', 'docs/guide.md']);
    expect(pkg.files.get('bin/run.sh')?.mode).toBe(0o755); // setuid dropped
    expect(pkg.files.get('docs/guide.md')?.data.toString()).toBe('# Guide');
  });

  it('extractPackage renames the result into place with normalized modes', async () => {
    await writeFile(join(dir, 'pkg.tgz'), archive());
    const destination = join(dir, 'extensions', 'hello');
    const result = await extractPackage(join(dir, 'pkg.tgz'), destination);
    expect(result.manifest.name).toBe('hello');
    expect(result.files.sort()).toEqual(['bin/run.sh', 'docs/guide.md', 'extension.yaml']);
    expect((await stat(join(destination, 'bin/run.sh'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(destination, 'docs/guide.md'))).mode & 0o7777).toBe(0o644);
    expect(await readdir(join(dir, 'extensions'))).toEqual(['hello']);
  });

  it('extractPackage never writes into an existing directory', async () => {
    await writeFile(join(dir, 'pkg.tgz'), archive());
    await mkdir(join(dir, 'installed'));
    await writeFile(join(dir, 'installed', 'keep.txt'), 'mine');
    await expect(extractPackage(join(dir, 'pkg.tgz'), join(dir, 'installed'))).rejects.toMatchObject({ code: 'DESTINATION_EXISTS' });
    expect(await readdir(join(dir, 'installed'))).toEqual(['keep.txt']);
    expect((await readdir(dir)).sort()).toEqual(['installed', 'pkg.tgz']);
  });
});
