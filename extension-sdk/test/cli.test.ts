import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  keygenCommand,
  packCommand,
  publishCommand,
  readPackage,
  runCli,
  sha256Hex,
  validateCommand,
  verifyDigestSignature,
  type CliIO,
} from '../src/index.js';
import { sharedRangeProblems } from '../src/federation/shared-ranges.js';
import { fullManifest, tempDir, writeExtensionDir } from './helpers/fixtures.js';
import { runCliProcess } from './helpers/run-cli-process.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

function collector(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => void stdout.push(l), err: (l) => void stderr.push(l) };
}

describe('mortise-ext validate', () => {
  it('prints OK and exits 0 for a valid extension', async () => {
    const ext = await writeExtensionDir(join(dir, 'ext'));
    const io = collector();
    expect(await validateCommand(ext, io)).toBe(0);
    expect(io.stdout).toEqual(['OK: devops 1.2.0 is a valid extension']);
  });

  it('prints every problem as "path: message" and exits 1', async () => {
    const ext = await writeExtensionDir(join(dir, 'ext'), fullManifest({ name: 'Bad', engines: { mortise: 'soon' }, icon: 'missing.svg' }));
    const io = collector();
    expect(await validateCommand(ext, io)).toBe(1);
    expect(io.stdout).toEqual([
      '/name: must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit), got "Bad"',
      '/engines/mortise: must be a valid semver range, got "soon"',
      '/icon: file "missing.svg" does not exist in the extension directory',
    ]);
    expect(io.stderr).toEqual([`3 problems in ${ext}`]);
  });

  it('warns (on stderr, exit 0) when the frontend directory would publish the backend or the whole package', async () => {
    const inside = await writeExtensionDir(join(dir, 'inside'));
    const io = collector();
    expect(await validateCommand(inside, io)).toBe(0);
    expect(io.stderr).toEqual([expect.stringMatching(/^warning: \/backend\/entry: the backend entry "dist\/server.js" lies inside the frontend directory "dist"/)]);

    const root = await writeExtensionDir(join(dir, 'root'), fullManifest({ frontend: { remoteEntry: 'remoteEntry.js', exposedModule: './index' } }), { 'remoteEntry.js': '// remote' });
    const atRoot = collector();
    expect(await validateCommand(root, atRoot)).toBe(0);
    expect(atRoot.stderr).toEqual([expect.stringMatching(/^warning: \/frontend\/remoteEntry: the frontend directory is the package root/)]);

    const own = await writeExtensionDir(join(dir, 'own'), fullManifest({ frontend: { remoteEntry: 'dist/ui/remoteEntry.js', exposedModule: './index', assets: 'dist/ui' } }), { 'dist/ui/remoteEntry.js': '// remote' });
    const clean = collector();
    expect(await validateCommand(own, clean)).toBe(0);
    expect(clean.stderr).toEqual([]);
  });

  it('works as a real process', async () => {
    const ext = await writeExtensionDir(join(dir, 'ext'), fullManifest({ version: '1.0' }));
    const bad = await runCliProcess(['validate', ext]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('/version: must be a valid semver version such as "1.2.3", got "1.0"\n');
    await writeFile(join(ext, 'extension.yaml'), stringify(fullManifest()));
    const good = await runCliProcess(['validate', ext]);
    expect(good).toMatchObject({ code: 0, stdout: 'OK: devops 1.2.0 is a valid extension\n' });
  });
});

describe('mortise-ext keygen and pack', () => {
  it('keygen writes a private key only its owner can read, and refuses to overwrite it', async () => {
    const io = collector();
    expect(await keygenCommand({ out: join(dir, 'release') }, io)).toBe(0);
    expect((await stat(join(dir, 'release.key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'release.pub'), 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    expect(io.stdout[2]).toMatch(/^fingerprint: [0-9a-f]{16}$/);

    const again = collector();
    expect(await keygenCommand({ out: join(dir, 'release') }, again)).toBe(1);
    expect(again.stderr[0]).toMatch(/already exists \(use --force/);
  });

  it('pack prints the file, sha256 and signature; the signature verifies', async () => {
    const ext = await writeExtensionDir(join(dir, 'ext'));
    await keygenCommand({ out: join(dir, 'k') }, collector());
    const io = collector();
    expect(await packCommand(ext, { out: join(dir, 'out'), sign: join(dir, 'k.key') }, io)).toBe(0);
    const file = join(dir, 'out', 'devops-1.2.0.tgz');
    const sha256 = sha256Hex(await readFile(file));
    expect(io.stdout).toContain(`file: ${file}`);
    expect(io.stdout).toContain(`sha256: ${sha256}`);
    const signature = io.stdout.find((l) => l.startsWith('signature: '))!.slice('signature: '.length);
    expect(verifyDigestSignature(sha256, signature, await readFile(join(dir, 'k.pub'), 'utf8'))).toBe(true);
  });

  it('pack reports manifest problems and exits 1', async () => {
    const ext = await writeExtensionDir(join(dir, 'ext'), fullManifest({ version: 'x' }));
    const io = collector();
    expect(await packCommand(ext, { out: join(dir, 'out') }, io)).toBe(1);
    expect(io.stderr).toEqual(['error: the extension manifest is invalid:', '  /version: must be a valid semver version such as "1.2.3", got "x"']);
  });

  it('keygen and pack work as real processes, and give identical packages', async () => {
    const ext = await writeExtensionDir(join(dir, 'ext'));
    const keygen = await runCliProcess(['keygen', '--out', join(dir, 'proc')]);
    expect(keygen.code).toBe(0);
    expect((await stat(join(dir, 'proc.key'))).mode & 0o777).toBe(0o600);

    const first = await runCliProcess(['pack', ext, '--out', join(dir, 'a'), '--sign', join(dir, 'proc.key')]);
    const second = await runCliProcess(['pack', ext], { cwd: join(dir) });
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const digestOf = (out: string) => /sha256: ([0-9a-f]{64})/.exec(out)?.[1];
    expect(digestOf(first.stdout)).toBe(sha256Hex(await readFile(join(dir, 'a', 'devops-1.2.0.tgz'))));
    expect(digestOf(second.stdout)).toBe(digestOf(first.stdout));
    expect(first.stdout).toMatch(/^signature: [A-Za-z0-9+/]{86}==$/m);
    expect(second.stdout).toMatch(/^signature: none$/m);
    expect((await readPackage(join(dir, 'devops-1.2.0.tgz'))).manifest.name).toBe('devops');
  });

  it('pack exits 1 with a message for a directory without extension.yaml', async () => {
    const result = await runCliProcess(['pack', dir, '--out', join(dir, 'out')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/extension.yaml not found in/);
  });
});

describe('mortise-ext command line', () => {
  it('requires --to for publish and a token', async () => {
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', 'publish', 'x.tgz'], io)).not.toBe(0);
    expect(io.stderr.join('\n')).toMatch(/required option '--to <url>'/);
    const noToken = collector();
    const saved = process.env.MORTISE_PUBLISH_TOKEN;
    delete process.env.MORTISE_PUBLISH_TOKEN;
    try {
      expect(await publishCommand('x.tgz', { to: 'http://127.0.0.1:1' }, noToken)).toBe(1);
    } finally {
      if (saved !== undefined) process.env.MORTISE_PUBLISH_TOKEN = saved;
    }
    expect(noToken.stderr).toEqual(['error: a publish token is required (--token or MORTISE_PUBLISH_TOKEN)']);
  });

  it('reports an unreachable marketplace clearly', async () => {
    const ext = await writeExtensionDir(join(dir, 'ext'));
    await packCommand(ext, { out: dir }, collector());
    const io = collector();
    expect(await publishCommand(join(dir, 'devops-1.2.0.tgz'), { to: 'http://127.0.0.1:1', token: 't' }, io)).toBe(1);
    expect(io.stderr[0]).toMatch(/^error: cannot reach http:\/\/127.0.0.1:1: /);
  });

  it('prints help with exit code 0', async () => {
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', '--help'], io)).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/validate.*\n.*pack/s);
  });
});

describe('mortise-ext create', () => {
  it('writes a project that stands alone: its own tsconfig, the SDK and core as file: dependencies, a frontend, tests, .mortiseignore, README', async () => {
    const tarball = join(dir, 'mortise-extension-sdk-0.1.0.tgz');
    const coreTarball = join(dir, 'mortise-core-0.1.0.tgz');
    await writeFile(tarball, 'a packed SDK');
    await writeFile(coreTarball, 'a packed core');
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', 'create', 'acme-notes', '--dir', join(dir, 'acme'), '--sdk', tarball, '--core', coreTarball], io)).toBe(0);
    expect(io.stdout[0]).toBe(`created acme-notes in ${join(dir, 'acme')}`);
    const pkg = JSON.parse(await readFile(join(dir, 'acme', 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.name).toBe('acme-notes');
    expect(pkg.dependencies['@mortise/extension-sdk']).toBe(`file:${tarball}`);
    expect(pkg.devDependencies['@mortise/core']).toBe(`file:${coreTarball}`);
    expect(Object.keys(pkg.scripts)).toEqual(expect.arrayContaining(['build', 'test', 'pack', 'dev']));
    expect(pkg.scripts.build).toContain('mortise-ext build .');
    // The frontend asks for the shared modules in ranges the console satisfies (or the build refuses).
    expect(sharedRangeProblems(pkg.devDependencies)).toEqual([]);
    expect(await readFile(join(dir, 'acme', 'frontend', 'index.tsx'), 'utf8')).toMatch(/navItems[\s\S]*routes[\s\S]*zh:/);
    expect(await readFile(join(dir, 'acme', 'frontend', 'NotesPage.tsx'), 'utf8')).toContain("api.request<Greeting>(`${base}/hello`)");
    const tsconfig = JSON.parse(await readFile(join(dir, 'acme', 'tsconfig.json'), 'utf8')) as Record<string, unknown>;
    expect(tsconfig.extends).toBeUndefined();
    const manifest = await readFile(join(dir, 'acme', 'extension.yaml'), 'utf8');
    expect(manifest).toMatch(/^name: acme-notes$/m);
    expect(manifest).toContain('prefix: /proxy/acme-notes/');
    expect(manifest).toContain('remoteEntry: dist/frontend/remoteEntry.js');
    expect(await readFile(join(dir, 'acme', 'test', 'server.test.ts'), 'utf8')).toContain("from '@mortise/extension-sdk/testing'");
    expect(await readFile(join(dir, 'acme', '.mortiseignore'), 'utf8')).toMatch(/^\/src\/\n\/frontend\/$/m);
    expect(await readFile(join(dir, 'acme', 'README.md'), 'utf8')).toMatch(/^# Acme Notes$/m);
  });

  it('refuses a bad name, a non-empty directory and a missing SDK tarball, writing nothing', async () => {
    const bad = collector();
    expect(await runCli(['node', 'mortise-ext', 'create', 'Acme_Notes', '--dir', join(dir, 'x')], bad)).toBe(1);
    expect(bad.stderr[0]).toMatch(/^error: "Acme_Notes" is not a valid extension name/);
    await writeFile(join(dir, 'occupied'), '');
    const busy = collector();
    expect(await runCli(['node', 'mortise-ext', 'create', 'acme', '--dir', dir], busy)).toBe(1);
    expect(busy.stderr[0]).toBe(`error: ${dir} exists and is not empty: choose another name or --dir`);
    const missing = collector();
    expect(await runCli(['node', 'mortise-ext', 'create', 'acme', '--dir', join(dir, 'y'), '--sdk', join(dir, 'nope.tgz')], missing)).toBe(1);
    expect(missing.stderr[0]).toContain('does not exist');
    await expect(stat(join(dir, 'x'))).rejects.toThrow();
    await expect(stat(join(dir, 'y'))).rejects.toThrow();
  });
});

describe('mortise-ext index and yank for a static repository', () => {
  it('index lists every package of DIR/packages with its digest and signature, keeps yanked marks, and refuses a renamed file', async () => {
    const { mkdir, rename } = await import('node:fs/promises');
    const { parseRepositoryIndex, sha256File } = await import('../src/index.js');
    const repo = join(dir, 'repo');
    await mkdir(join(repo, 'packages'), { recursive: true });
    const ext = await writeExtensionDir(join(dir, 'ext'));
    expect(await packCommand(ext, { out: join(repo, 'packages') }, collector())).toBe(0);
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', 'index', repo], io)).toBe(0);
    expect(io.stdout[0]).toBe(`wrote ${join(repo, 'index.yaml')}: 1 extension(s), 1 version(s)`);
    const index = parseRepositoryIndex(await readFile(join(repo, 'index.yaml'), 'utf8'));
    expect(index.entries.devops![0]).toMatchObject({ version: '1.2.0', digest: await sha256File(join(repo, 'packages', 'devops-1.2.0.tgz')), urls: ['packages/devops-1.2.0.tgz'] });

    const yank = collector();
    expect(await runCli(['node', 'mortise-ext', 'yank', 'devops', '1.2.0', '--from', `file://${repo}`, '--reason', 'bad'], yank)).toBe(0);
    expect(await runCli(['node', 'mortise-ext', 'index', repo], collector())).toBe(0);
    expect(parseRepositoryIndex(await readFile(join(repo, 'index.yaml'), 'utf8')).entries.devops![0]).toMatchObject({ yanked: true, yankedReason: 'bad' });

    await rename(join(repo, 'packages', 'devops-1.2.0.tgz'), join(repo, 'packages', 'devops-2.0.0.tgz'));
    const bad = collector();
    expect(await runCli(['node', 'mortise-ext', 'index', repo], bad)).toBe(1);
    expect(bad.stderr[0]).toMatch(/^error: devops-2.0.0.tgz holds devops 1.2.0/);
  });

  it('publish and yank take the repository URL users see, or the root and --repository', async () => {
    const { marketplaceTarget } = await import('../src/repository/repository-url.js');
    expect(marketplaceTarget('http://127.0.0.1:8090/main')).toEqual({ marketplaceUrl: 'http://127.0.0.1:8090/', repository: 'main' });
    expect(marketplaceTarget('http://127.0.0.1:8090/main/index.yaml')).toEqual({ marketplaceUrl: 'http://127.0.0.1:8090/', repository: 'main' });
    expect(marketplaceTarget('https://m.example/mp/community/')).toEqual({ marketplaceUrl: 'https://m.example/mp/', repository: 'community' });
    expect(marketplaceTarget('http://127.0.0.1:8090')).toEqual({ marketplaceUrl: 'http://127.0.0.1:8090/', repository: 'main' });
    expect(marketplaceTarget('http://127.0.0.1:8090', 'beta')).toEqual({ marketplaceUrl: 'http://127.0.0.1:8090/', repository: 'beta' });
    expect(() => marketplaceTarget('http://127.0.0.1:8090/main', 'beta')).toThrow(/is the repository "main", but --repository says "beta"/);
    expect(() => marketplaceTarget('file:///srv/repo')).toThrow(/mortise-ext index/);
  });
});
