import { chmod, mkdir, readFile, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  generateSigningKeyPair,
  packExtension,
  PackageError,
  readPackage,
  sha256Hex,
  verifyDigestSignature,
} from '../src/index.js';
import { fullManifest, tempDir, writeExtensionDir } from './helpers/fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let ext: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  ext = await writeExtensionDir(join(dir, 'ext'));
});
afterEach(() => cleanup());

/** Entries as an independent reader (node-tar) sees them, in archive order. */
async function listWithNodeTar(file: string) {
  const entries: Array<{ path: string; mode: number; uid: number; gid: number; mtime: number; type: string; uname: string }> = [];
  await tar.t({
    file,
    onReadEntry: (e) => {
      entries.push({ path: e.path, mode: e.mode ?? -1, uid: e.uid ?? -1, gid: e.gid ?? -1, mtime: e.mtime?.getTime() ?? -1, type: e.type, uname: e.uname ?? '' });
    },
  });
  return entries;
}

describe('packExtension', () => {
  it('is reproducible: same input, same bytes, whatever the file times and permissions', async () => {
    const first = await packExtension(ext, { outDir: join(dir, 'out1') });
    await utimes(join(ext, 'README.md'), new Date('2011-01-01'), new Date('2011-01-01'));
    await chmod(join(ext, 'dist/server.js'), 0o600);
    const second = await packExtension(ext, { outDir: join(dir, 'out2') });
    expect(second.sha256).toBe(first.sha256);
    expect(Buffer.compare(await readFile(first.file), await readFile(second.file))).toBe(0);
  });

  it('changes the digest when content changes', async () => {
    const first = await packExtension(ext, { outDir: join(dir, 'out1') });
    await writeFile(join(ext, 'README.md'), '# changed\n');
    const second = await packExtension(ext, { outDir: join(dir, 'out2') });
    expect(second.sha256).not.toBe(first.sha256);
  });

  it('writes <name>-<version>.tgz with a sha256sum-style .sha256 file', async () => {
    const result = await packExtension(ext, { outDir: join(dir, 'out') });
    expect(result.file).toBe(join(dir, 'out', 'devops-1.2.0.tgz'));
    const bytes = await readFile(result.file);
    expect(result.sha256).toBe(sha256Hex(bytes));
    expect(await readFile(`${result.file}.sha256`, 'utf8')).toBe(`${result.sha256}  devops-1.2.0.tgz\n`);
    expect(bytes[9]).toBe(0xff); // gzip OS byte: "unknown"
    expect(bytes.readUInt32LE(4)).toBe(0); // gzip mtime: none
  });

  it('puts extension.yaml first, sorts the rest and normalizes metadata', async () => {
    await chmod(join(ext, 'dist/server.js'), 0o750);
    const result = await packExtension(ext, { outDir: join(dir, 'out') });
    const entries = await listWithNodeTar(result.file);
    expect(entries.map((e) => e.path)).toEqual([
      'extension.yaml',
      'README.md',
      'assets/icon.svg',
      'assets/shot-1.png',
      'crds/pipelines.yaml',
      'dist/remoteEntry.js',
      'dist/server.js',
    ]);
    expect(result.entries).toEqual(entries.map((e) => e.path));
    for (const e of entries) {
      expect(e.type).toBe('File');
      expect([e.uid, e.gid, e.uname]).toEqual([0, 0, '']);
      expect(e.mtime).toBe(Date.UTC(2000, 0, 1));
      expect(e.mode).toBe(e.path === 'dist/server.js' ? 0o755 : 0o644);
    }
  });

  it('leaves out node_modules, .git, .mortiseignore matches and an output directory inside the source', async () => {
    await mkdir(join(ext, 'node_modules/left-pad'), { recursive: true });
    await writeFile(join(ext, 'node_modules/left-pad/index.js'), 'x');
    await mkdir(join(ext, '.git'), { recursive: true });
    await writeFile(join(ext, '.git/HEAD'), 'ref: refs/heads/main');
    await mkdir(join(ext, 'src/deep/node_modules'), { recursive: true });
    await writeFile(join(ext, 'src/deep/node_modules/x.js'), 'x');
    await writeFile(join(ext, 'src/index.ts'), 'export {}');
    await writeFile(join(ext, 'src/index.test.ts'), 'test');
    await writeFile(join(ext, 'debug.log'), 'log');
    await mkdir(join(ext, 'coverage'), { recursive: true });
    await writeFile(join(ext, 'coverage/lcov.info'), 'x');
    await writeFile(join(ext, 'keep.log'), 'kept');
    await writeFile(join(ext, '.mortiseignore'), '# dev files\n*.log\n!keep.log\ncoverage/\n/src/**/*.test.ts\n');

    const first = await packExtension(ext, { outDir: join(ext, 'out') });
    expect(first.entries).toContain('src/index.ts');
    expect(first.entries).toContain('keep.log');
    for (const excluded of ['node_modules/left-pad/index.js', '.git/HEAD', 'src/deep/node_modules/x.js', 'src/index.test.ts', 'debug.log', 'coverage/lcov.info', '.mortiseignore']) {
      expect(first.entries).not.toContain(excluded);
    }
    // The first package now sits in ext/out: packing again must not pick it up.
    const second = await packExtension(ext, { outDir: join(ext, 'out') });
    expect(second.entries.some((e) => e.startsWith('out/'))).toBe(false);
    expect(second.sha256).toBe(first.sha256);
  });

  it('stores long paths through pax headers and reads them back', async () => {
    const longPath = `assets/${'nested-directory/'.repeat(8)}${'a'.repeat(120)}.png`;
    await writeExtensionDir(ext, fullManifest({ screenshots: [longPath] }), { [longPath]: 'png' });
    const result = await packExtension(ext, { outDir: join(dir, 'out') });
    const pkg = await readPackage(result.file);
    expect(pkg.files.get(longPath)?.data.toString()).toBe('png');
    expect((await listWithNodeTar(result.file)).map((e) => e.path)).toContain(longPath);
  });

  it('refuses symlinks instead of following them, unless they are ignored', async () => {
    await symlink('/etc/passwd', join(ext, 'passwd'));
    await expect(packExtension(ext, { outDir: join(dir, 'out') })).rejects.toThrow(/"passwd" is a symbolic link/);
    await writeFile(join(ext, '.mortiseignore'), 'passwd\n');
    await expect(packExtension(ext, { outDir: join(dir, 'out') })).resolves.toBeDefined();
  });

  it('refuses an invalid manifest and lists its problems', async () => {
    await writeExtensionDir(ext, fullManifest({ version: 'latest', backend: { entry: 'dist/missing.js' } }));
    const error = await packExtension(ext, { outDir: join(dir, 'out') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).code).toBe('INVALID_MANIFEST');
    expect((error as PackageError).problems.map((p) => p.path)).toEqual(['/version', '/backend/entry']);
    await expect(readdir(dir)).resolves.toEqual(['ext']);
  });

  it('enforces the size limits while packing', async () => {
    await writeFile(join(ext, 'big.bin'), Buffer.alloc(4096));
    await expect(packExtension(ext, { outDir: join(dir, 'out'), limits: { maxFileSize: 1024 } })).rejects.toThrow(/"big.bin" is 4\.0 KiB, more than the 1\.0 KiB allowed per file/);
    await expect(packExtension(ext, { outDir: join(dir, 'out'), limits: { maxFiles: 3 } })).rejects.toThrow(/more than 3 files/);
  });

  it('signs the digest when given a key; the signature verifies and detects tampering', async () => {
    const keys = generateSigningKeyPair();
    const result = await packExtension(ext, { outDir: join(dir, 'out'), signingKey: keys.privateKeyPem });
    const signature = (await readFile(`${result.file}.sig`, 'utf8')).trim();
    expect(signature).toBe(result.signature);
    expect(verifyDigestSignature(result.sha256, signature, keys.publicKeyPem)).toBe(true);

    const tampered = Buffer.from(await readFile(result.file));
    tampered[tampered.length - 10] ^= 0x01;
    expect(verifyDigestSignature(sha256Hex(tampered), signature, keys.publicKeyPem)).toBe(false);
    expect(verifyDigestSignature(result.sha256, signature, generateSigningKeyPair().publicKeyPem)).toBe(false);
  });
});

describe('packExtension with bundleDependencies', () => {
  /** A fake installed package under `root/node_modules/<name>`. */
  async function installed(root: string, name: string, deps: Record<string, string> = {}, files: Record<string, string> = {}) {
    const d = join(root, 'node_modules', name);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'package.json'), JSON.stringify({ name, version: '1.0.0', dependencies: deps }));
    for (const [f, text] of Object.entries(files)) {
      await mkdir(join(d, f, '..'), { recursive: true });
      await writeFile(join(d, f), text);
    }
  }

  it('packs the named packages and their dependencies under node_modules/, minus what .mortiseignore leaves out', async () => {
    await writeFile(join(ext, 'package.json'), JSON.stringify({ name: 'devops', dependencies: { store: '1' }, bundleDependencies: ['store'] }));
    // Resolved as Node would: the dependency of `store` sits in a node_modules above the extension.
    await installed(ext, 'store', { helper: '1', 'install-tool': '1' }, { 'index.js': 'export {}', 'deps/huge.c': 'int x;' });
    await installed(dir, 'helper', {}, { 'index.js': 'module.exports = 1' });
    await installed(dir, 'install-tool', { 'never-needed': '1' });
    await writeFile(join(ext, '.mortiseignore'), 'node_modules/store/deps/\nnode_modules/install-tool/\n');
    const result = await packExtension(ext, { outDir: join(dir, 'out') });
    const bundled = result.entries.filter((e) => e.startsWith('node_modules/'));
    expect(bundled).toEqual(['node_modules/helper/index.js', 'node_modules/helper/package.json', 'node_modules/store/index.js', 'node_modules/store/package.json']);
    // What the extension itself has in node_modules but did not bundle stays out.
    await installed(ext, 'unlisted');
    expect((await packExtension(ext, { outDir: join(dir, 'out2') })).entries.filter((e) => e.startsWith('node_modules/unlisted'))).toEqual([]);
  });

  it('refuses to pack when a bundled dependency is not installed', async () => {
    await writeFile(join(ext, 'package.json'), JSON.stringify({ name: 'devops', bundleDependencies: ['missing-package'] }));
    const err = await packExtension(ext, { outDir: join(dir, 'out') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageError);
    expect((err as PackageError).code).toBe('MISSING_DEPENDENCY');
  });
});
