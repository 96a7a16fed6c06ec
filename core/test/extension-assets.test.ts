import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { decodeAssetPath, hasContentHash } from '../src/extensions/asset-routes.js';
import { buildBundledRepository } from '../src/extensions/bundled-repository.js';
import { MAX_MEDIA_BYTES } from '../src/extensions/readme-routes.js';
import { createLogger } from '../src/ops/logger.js';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

const helloWorld = join(import.meta.dirname, '..', '..', 'examples', 'hello-world');
const ext = '/apis/extensions.mortise.io/v1alpha1';
const kapis = '/kapis/extensions.mortise.io/v1alpha1';
const iam = '/apis/iam.mortise.io/v1alpha1';

/**
 * hello-world renamed, with a built frontend beside its backend: the shape of a real package,
 * with everything a careless build leaves in it (source, maps, dotfiles).
 */
function extensionSource(root: string, name: string, version: string, frontend: 'own-directory' | 'beside-backend', readme: string, media: Record<string, string | Buffer> = {}): void {
  const dir = join(root, `${name}-${version}`);
  cpSync(helloWorld, dir, { recursive: true, filter: (src) => !src.includes('node_modules') });
  const remoteEntry = frontend === 'own-directory' ? 'dist/ui/remoteEntry.js' : 'dist/remoteEntry.js';
  // hello-world's manifest as data: its own frontend and screenshots give way to the fixture's.
  const manifest = parse(readFileSync(join(dir, 'extension.yaml'), 'utf8')) as Record<string, unknown>;
  Object.assign(manifest, {
    name, version, screenshots: ['screenshots/overview.png', ...Object.keys(media).filter((p) => p.startsWith('screenshots/'))], frontend: { remoteEntry, exposedModule: './index' },
    reverseProxies: [{ prefix: `/proxy/${name}/`, stripPrefix: true }],
  });
  writeFileSync(join(dir, 'extension.yaml'), stringify(manifest));
  const files: Record<string, string | Buffer> = {
    [remoteEntry]: 'var shop; /* federation container */\n',
    'dist/ui/assets/index-4f3a9b2c.js': 'export const page = 1;\n',
    'dist/ui/assets/app.3f9a1c2be8d7.css': 'body { color: teal }\n',
    'dist/ui/assets/index-4f3a9b2c.js.map': '{"version":3}',
    'dist/ui/.env': 'SECRET=frontend\n',
    'dist/server.js.map': '{"version":3,"sources":["../src/server.ts"]}',
    '.env': 'SECRET=root\n',
    'config/backend.json': '{"password":"hunter2"}',
    'screenshots/overview.png': Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from(`overview of ${version}`)]),
    'README.md': readme,
    ...media,
  };
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), data);
  }
}

/** A GET with the path exactly as written: fetch() would normalize "..", "%2e" and "\". */
function rawGet(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('extension assets: anonymous callers get the browser files the manifest declares, nothing else', () => {
  let t: TestCore;
  const work = mkdtempSync(join(tmpdir(), 'mortise-assets-'));
  const assets = (name: string, path: string) => `/extensions/${name}/assets/${path}`;

  beforeAll(async () => {
    if (!existsSync(join(helloWorld, 'dist', 'server.js'))) throw new Error('examples/hello-world is not built: run `npm run build` (npm test does)');
    const src = join(work, 'src');
    extensionSource(src, 'shop', '0.1.0', 'own-directory', '# Shop 0.1.0\n\nSells things.\n');
    extensionSource(src, 'shop', '0.2.0', 'own-directory', '# Shop 0.2.0\n\nSells more things.\n', {
      // An icon that would run script if it were opened as a document of the core's origin.
      'icon.svg': '<svg xmlns="http://www.w3.org/2000/svg"><script>parent.iconScriptRan = true</script><rect width="8" height="8"/></svg>',
      'screenshots/huge.png': Buffer.alloc(MAX_MEDIA_BYTES + 1),
      'screenshots/notes.txt': 'not an image',
    });
    extensionSource(src, 'mixed', '0.1.0', 'beside-backend', '# Mixed\n');
    const repoDir = join(work, 'repo');
    await buildBundledRepository([src], repoDir, createLogger({ level: 'silent' }));
    t = await startTestCore({ backendReadyTimeoutMs: 8000 });
    expect((await t.api(`${ext}/repositories`, { method: 'POST', json: { metadata: { name: 'local' }, spec: { url: `file://${repoDir}` } } })).status).toBe(201);
    await eventually(async () => (await t.api(`${ext}/extensionversions/mixed-0.1.0`)).status === 200, 10_000, 'repository synced');
    for (const name of ['shop', 'mixed']) {
      await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name }, spec: { extension: { name, version: '0.1.0' }, enabled: true } } });
    }
    for (const name of ['shop', 'mixed']) {
      await eventually(async () => ((await (await t.api(`${ext}/installplans/${name}`)).json()) as { status?: { state?: string } }).status?.state === 'Installed', 30_000, `${name} installed`);
    }
  });
  afterAll(async () => {
    await t?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('serves the remote entry, chunks, icon and screenshots with their content types and cache headers', async () => {
    const cases: Array<[path: string, type: string, cache: string]> = [
      ['dist/ui/remoteEntry.js', 'text/javascript; charset=utf-8', 'no-cache'],
      ['dist/ui/assets/index-4f3a9b2c.js', 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['dist/ui/assets/app.3f9a1c2be8d7.css', 'text/css; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['dist/ui/assets/index-4f3a9b2c.js.map', 'application/json; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['icon.svg', 'image/svg+xml', 'no-cache'],
      ['screenshots/overview.png', 'image/png', 'no-cache'],
    ];
    for (const [path, type, cache] of cases) {
      const res = await call(t.url, undefined, assets('shop', path));
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('cache-control'), path).toBe(cache);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(Buffer.from(await res.arrayBuffer()).length, path).toBe(Number(res.headers.get('content-length')));
    }
    expect(await (await call(t.url, undefined, assets('shop', 'dist/ui/remoteEntry.js'))).text()).toContain('federation container');
    // An SVG opened directly cannot act as the core's origin.
    expect((await call(t.url, undefined, assets('shop', 'icon.svg'))).headers.get('content-security-policy')).toBe('sandbox');
    // Revalidation of what is not immutable costs a 304.
    const first = await call(t.url, undefined, assets('shop', 'dist/ui/remoteEntry.js'));
    // (Raw: fetch() adds "Cache-Control: no-cache" to a conditional request, which disables it.)
    const again = await rawGet(t.url, assets('shop', 'dist/ui/remoteEntry.js'), { 'if-none-match': first.headers.get('etag')! });
    expect(again.status).toBe(304);
    // The remote entry at the address its JSBundle gives.
    const bundle = (await (await t.api(`${ext}/jsbundles/shop`)).json()) as { spec: { remoteEntry: string } };
    expect((await call(t.url, undefined, bundle.spec.remoteEntry)).status).toBe(200);
  });

  it('answers 404 for everything else of the package, however the path is spelt', async () => {
    const paths = [
      'dist/server.js', 'dist/server.js.map', 'src/server.ts', 'package.json', 'extension.yaml', 'README.md', 'tsconfig.json', 'config/backend.json',
      '.env', 'dist/ui/.env', '.mortise-unpacked', '.mortise-manifest.json', 'node_modules/@mortise/extension-sdk/package.json',
      'dist/ui', 'dist/ui/', 'dist/ui/assets', 'DIST/UI/remoteEntry.js', 'screenshots/', 'screenshots/missing.png',
      'dist/ui/../server.js', 'dist/ui/../../extension.yaml', '../../../../etc/passwd', './dist/ui/remoteEntry.js', 'dist/ui/./remoteEntry.js', 'dist//ui/remoteEntry.js',
      'dist/ui/%2e%2e/server.js', 'dist/ui/%2E%2E/server.js', '%2e%2e/%2e%2e/etc/passwd', 'dist/ui/%252e%252e/server.js', 'dist/ui/%25%32%65%25%32%65/server.js',
      'dist%2fserver.js', 'dist%2Fui%2FremoteEntry.js', 'dist/ui/..%2fserver.js', 'dist/ui/..%2f..%2fpackage.json', 'dist/ui/..%5cserver.js', 'dist/ui/..%255cserver.js',
      'dist\\server.js', 'dist/ui\\..\\server.js', 'dist/ui/remoteEntry.js%00', 'dist/ui/remoteEntry.js%00.png', 'package.json%00.png', '%00', 'dist/ui/%',
      'dist/ui/%e0%80%ae%e0%80%ae/server.js', 'dist/ui/%c0%ae%c0%ae/server.js', '%2e/package.json', '%2eenv', 'dist/ui/%2eenv',
    ];
    for (const path of paths) {
      const res = await rawGet(t.url, assets('shop', path));
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('SECRET');
      expect(JSON.parse(res.body), path).toMatchObject({ kind: 'Status', code: 404 });
    }
    // A percent-encoded spelling of a public file is the same file.
    expect((await rawGet(t.url, assets('shop', 'dist/ui/remote%45ntry.js'))).status).toBe(200);
    // Not installed: nothing at all.
    expect((await rawGet(t.url, assets('nothing-here', 'dist/ui/remoteEntry.js'))).status).toBe(404);
  });

  it('a frontend built beside the backend publishes its directory but never the backend entry or its map', async () => {
    expect((await rawGet(t.url, assets('mixed', 'dist/remoteEntry.js'))).status).toBe(200);
    for (const path of ['dist/server.js', 'dist/server.js.map', 'src/server.ts', 'package.json', '.env']) {
      expect((await rawGet(t.url, assets('mixed', path))).status, path).toBe(404);
    }
  });

  it('serves READMEs through the authenticated API: the installed version\'s and any offered version\'s', async () => {
    expect((await call(t.url, undefined, `${kapis}/extensions/shop/readme`)).status).toBe(401);
    const installed = await t.api(`${kapis}/extensions/shop/readme`);
    expect(installed.status).toBe(200);
    expect(installed.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(await installed.text()).toBe('# Shop 0.1.0\n\nSells things.\n');
    expect(await (await t.api(`${kapis}/extensionversions/shop-0.1.0/readme`)).text()).toBe('# Shop 0.1.0\n\nSells things.\n');
    // Not installed: read from its archive, fetched into the package cache, never unpacked.
    const offered = await t.api(`${kapis}/extensionversions/shop-0.2.0/readme`);
    expect(offered.status).toBe(200);
    expect(await offered.text()).toBe('# Shop 0.2.0\n\nSells more things.\n');
    expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', 'shop', '0.2.0'))).toBe(false);
    expect((await t.api(`${kapis}/extensionversions/shop-9.9.9/readme`)).status).toBe(404);
    expect(await (await t.api(`${kapis}/extensions/not-installed/readme`)).json()).toMatchObject({ kind: 'Status', code: 404 });

    // Anyone who may browse the Extension Center may read them; a user with no role may not.
    for (const user of ['reader', 'nobody']) {
      await t.api(`${iam}/users`, { method: 'POST', json: { metadata: { name: user }, spec: { password: `${user}-password-1` } } });
    }
    await t.api(`${iam}/globalrolebindings`, { method: 'POST', json: { metadata: { name: 'reader-regular' }, roleRef: { kind: 'GlobalRole', name: 'platform-regular' }, subjects: [{ kind: 'User', name: 'reader' }] } });
    const reader = await login(t.url, 'reader', 'reader-password-1');
    const nobody = await login(t.url, 'nobody', 'nobody-password-1');
    await eventually(async () => (await call(t.url, reader, `${kapis}/extensionversions/shop-0.2.0/readme`)).status === 200, 5000, 'reader reads the README');
    expect((await call(t.url, reader, `${kapis}/extensions/shop/readme`)).status).toBe(200);
    expect((await call(t.url, nobody, `${kapis}/extensions/shop/readme`)).status).toBe(403);
    expect((await call(t.url, reader, `${kapis}/extensionversions/shop-0.2.0/details`)).status).toBe(200);
    expect((await call(t.url, nobody, `${kapis}/extensionversions/shop-0.2.0/details`)).status).toBe(403);
  });

  it('serves a version\'s details (configuration schema, default config, icon, screenshots), installed or only offered', async () => {
    const expected = { configSchema: { type: 'object', properties: { greeting: { type: 'string', default: 'Hello' } }, additionalProperties: false }, config: { greeting: 'Hello' }, icon: 'icon.svg', screenshots: ['screenshots/overview.png'] };
    expect((await call(t.url, undefined, `${kapis}/extensionversions/shop-0.1.0/details`)).status).toBe(401);
    const installed = await t.api(`${kapis}/extensionversions/shop-0.1.0/details`);
    expect(installed.status).toBe(200);
    expect(await installed.json()).toMatchObject(expected);
    // Not installed: from the manifest in its archive, which is not unpacked for it.
    expect(await (await t.api(`${kapis}/extensionversions/shop-0.2.0/details`)).json()).toMatchObject({ ...expected, screenshots: ['screenshots/overview.png', 'screenshots/huge.png', 'screenshots/notes.txt'] });
    expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', 'shop', '0.2.0'))).toBe(false);
    expect(await (await t.api(`${kapis}/extensionversions/shop-9.9.9/details`)).json()).toMatchObject({ kind: 'Status', code: 404 });
  });

  it('serves the icon and screenshots of any offered version through the authenticated API, only those, bounded and sandboxed', async () => {
    const media = (object: string, path: string) => `${kapis}/extensionversions/${object}/media/${path}`;
    expect((await call(t.url, undefined, media('shop-0.2.0', 'screenshots/overview.png'))).status).toBe(401);
    // The installed version's, from its unpacked package; a version not installed, from its archive (not unpacked).
    for (const version of ['0.1.0', '0.2.0']) {
      const res = await t.api(media(`shop-${version}`, 'screenshots/overview.png'));
      expect(res.status, version).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('private, max-age=3600');
      expect(Buffer.from(await res.arrayBuffer()).subarray(8).toString()).toBe(`overview of ${version}`);
    }
    expect(existsSync(join(t.dataDir!, 'extensions', 'unpacked', 'shop', '0.2.0'))).toBe(false);
    // An SVG is served as a sandboxed document that may load and run nothing.
    const icon = await t.api(media('shop-0.2.0', 'icon.svg'));
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    expect(icon.headers.get('content-security-policy')).toMatch(/^default-src 'none';.*\bsandbox$/);
    expect(await icon.text()).toContain('<script>');
    // Only the files the manifest names as its icon and screenshots, however the path is spelt.
    for (const path of ['README.md', 'extension.yaml', 'dist/server.js', 'dist/ui/remoteEntry.js', '.env', 'screenshots/missing.png', 'screenshots/../icon.svg', 'screenshots/%2e%2e/icon.svg', 'screenshots%2foverview.png', '../../../etc/passwd']) {
      const res = await rawGet(t.url, media('shop-0.2.0', path), { authorization: `Bearer ${t.token}` });
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body), path).toMatchObject({ kind: 'Status', code: 404 });
      expect(res.body, path).not.toContain('SECRET');
    }
    expect(await (await t.api(media('shop-0.2.0', 'screenshots/notes.txt'))).json()).toMatchObject({ kind: 'Status', code: 415, message: expect.stringMatching(/notes\.txt of shop 0\.2\.0 is not an image/) });
    expect(await (await t.api(media('shop-0.2.0', 'screenshots/huge.png'))).json()).toMatchObject({ kind: 'Status', code: 413, message: expect.stringMatching(/larger than 5242880 bytes/) });
    expect(await (await t.api(media('shop-9.9.9', 'icon.svg'))).json()).toMatchObject({ kind: 'Status', code: 404 });
    // Anyone who may browse the Extension Center may see them; a user with no role may not.
    const reader = await login(t.url, 'reader', 'reader-password-1');
    const nobody = await login(t.url, 'nobody', 'nobody-password-1');
    expect((await call(t.url, reader, media('shop-0.2.0', 'icon.svg'))).status).toBe(200);
    expect((await call(t.url, nobody, media('shop-0.2.0', 'icon.svg'))).status).toBe(403);
  });

  it('a disabled extension serves no assets', async () => {
    await t.api(`${ext}/installplans/mixed`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec: { enabled: false } } });
    expect((await rawGet(t.url, assets('mixed', 'dist/remoteEntry.js'))).status).toBe(503);
  });
});

describe('asset path rules', () => {
  it('recognizes content-hashed names as bundlers write them, and only those', () => {
    for (const name of ['index-4f3a9b2c.js', 'app.3f9a1c2be8d7.css', 'chunk.8e1d2f3a4b5c6d7e8f90.js', 'index-B7x2kq9d.js', 'vendor-a1b2c3d4.js.map']) expect(hasContentHash(name), name).toBe(true);
    for (const name of ['remoteEntry.js', 'main-component.js', 'main-component2.js', 'app.12345678.js', 'style.css', 'logo.svg']) expect(hasContentHash(name), name).toBe(false);
  });

  it('decodes a path once, and refuses whatever only an attacker would send', () => {
    expect(decodeAssetPath('dist/ui/remote%45ntry.js')).toBe('dist/ui/remoteEntry.js');
    for (const raw of ['a/../b', 'a/%2e%2e/b', 'a%2fb', 'a%5cb', 'a\\b', 'a%00', 'a/%252e', 'a//b', 'a/./b', '%', '%e0%80%ae']) expect(decodeAssetPath(raw), raw).toBeUndefined();
  });
});
