import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  addToIndex,
  emptyRepositoryIndex,
  generateSigningKeyPair,
  packExtension,
  readPackage,
  RepositoryClient,
  RepositoryError,
  serializeRepositoryIndex,
  sha256Hex,
  type IndexEntry,
  type PackResult,
} from '../src/index.js';
import { fullManifest, tempDir, writeExtensionDir } from './helpers/fixtures.js';
import { startStaticServer, type StaticServer } from './helpers/static-server.js';

let dir: string;
let cleanup: () => Promise<void>;
let repo: string;
let packed: PackResult;
const servers: StaticServer[] = [];
const keys = generateSigningKeyPair();

/** A repository directory with one signed package, laid out as a marketplace writes it. */
async function writeRepository(entryUrls?: string[]): Promise<void> {
  await mkdir(join(repo, 'packages'), { recursive: true });
  await copyFile(packed.file, join(repo, 'packages', 'devops-1.2.0.tgz'));
  let index = addToIndex(emptyRepositoryIndex(), packed.manifest, { digest: packed.sha256, url: 'packages/devops-1.2.0.tgz', signature: packed.signature });
  if (entryUrls) index = { ...index, entries: { devops: [{ ...index.entries.devops![0]!, urls: entryUrls }] } };
  await writeFile(join(repo, 'index.yaml'), serializeRepositoryIndex(index));
}

async function serve(options: Parameters<typeof startStaticServer>[1] = {}): Promise<StaticServer> {
  const server = await startStaticServer(repo, options);
  servers.push(server);
  return server;
}

async function onlyEntry(client: RepositoryClient): Promise<IndexEntry> {
  const index = await client.fetchIndex();
  return index.entries.devops![0]!;
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  repo = join(dir, 'repo');
  packed = await packExtension(await writeExtensionDir(join(dir, 'ext'), fullManifest()), { outDir: join(dir, 'out'), signingKey: keys.privateKeyPem });
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await cleanup();
});

describe('RepositoryClient over file://', () => {
  it('reads the index and a verified package from a directory', async () => {
    await writeRepository();
    const client = new RepositoryClient({ url: pathToFileURL(repo).href, trustedKeys: [keys.publicKeyPem] });
    const entry = await onlyEntry(client);
    const bytes = await client.fetchPackage(entry);
    expect(sha256Hex(bytes)).toBe(packed.sha256);
    expect((await readPackage(bytes)).manifest.name).toBe('devops');
  });

  it('accepts the URL of index.yaml itself', async () => {
    await writeRepository();
    const client = new RepositoryClient({ url: pathToFileURL(join(repo, 'index.yaml')).href });
    expect((await client.fetchIndex()).entries.devops).toHaveLength(1);
  });

  it('refuses package URLs that leave the repository directory', async () => {
    await writeRepository(['../out/devops-1.2.0.tgz']);
    const client = new RepositoryClient({ url: pathToFileURL(repo).href });
    await expect(client.fetchPackage(await onlyEntry(client))).rejects.toMatchObject({ code: 'INVALID_URL', message: expect.stringMatching(/points outside the repository/) });
  });

  it('refuses a package whose bytes do not match the index digest', async () => {
    await writeRepository();
    await writeFile(join(repo, 'packages', 'devops-1.2.0.tgz'), 'tampered');
    const client = new RepositoryClient({ url: pathToFileURL(repo).href });
    await expect(client.fetchPackage(await onlyEntry(client))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('reports a missing index as NOT_FOUND', async () => {
    const client = new RepositoryClient({ url: pathToFileURL(join(dir, 'nothing')).href });
    await expect(client.fetchIndex()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('RepositoryClient over HTTP', () => {
  it('fetches with basic credentials and only sends them to the repository origin', async () => {
    const other = await startStaticServer(join(dir, 'out'));
    servers.push(other);
    await writeRepository([`${other.url}/devops-1.2.0.tgz`]);
    const authorization = `Basic ${Buffer.from('ci:s3cret').toString('base64')}`;
    const server = await serve({ authorization });

    await expect(new RepositoryClient({ url: `${server.url}/` }).fetchIndex()).rejects.toMatchObject({ code: 'HTTP_ERROR', details: { status: 401 } });

    const client = new RepositoryClient({ url: server.url, credentials: { username: 'ci', password: 's3cret' } });
    const bytes = await client.fetchPackage(await onlyEntry(client));
    expect(sha256Hex(bytes)).toBe(packed.sha256);
    expect(server.seenAuthorization.at(-1)).toBe(authorization);
    expect(other.seenAuthorization).toEqual([undefined]);
  });

  it('sends bearer tokens', async () => {
    await writeRepository();
    const server = await serve({ authorization: 'Bearer t0ken' });
    const client = new RepositoryClient({ url: server.url, credentials: { token: 't0ken' } });
    expect(sha256Hex(await client.fetchPackage(await onlyEntry(client)))).toBe(packed.sha256);
  });

  it('tries mirror URLs in order', async () => {
    await writeRepository(['packages/missing.tgz', 'packages/devops-1.2.0.tgz']);
    const server = await serve();
    const client = new RepositoryClient({ url: server.url });
    expect(sha256Hex(await client.fetchPackage(await onlyEntry(client)))).toBe(packed.sha256);
  });

  it('bounds the package size by Content-Length and while streaming', async () => {
    await writeRepository();
    for (const chunked of [false, true]) {
      const server = await serve({ chunked });
      const client = new RepositoryClient({ url: server.url, maxPackageSize: 100 });
      await expect(client.fetchPackage(await onlyEntry(client))).rejects.toMatchObject({ code: 'TOO_LARGE', message: 'the package devops 1.2.0 is larger than the 100 B allowed' });
    }
  });

  it('gives up after the timeout', async () => {
    await writeRepository();
    const server = await serve({ hangOn: 'index.yaml' });
    const client = new RepositoryClient({ url: server.url, timeoutMs: 200 });
    const started = Date.now();
    await expect(client.fetchIndex()).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('with trusted keys, requires a signature by one of them', async () => {
    await writeRepository();
    const server = await serve();
    const entry = await onlyEntry(new RepositoryClient({ url: server.url }));

    const trusting = new RepositoryClient({ url: server.url, trustedKeys: [keys.publicKeyPem] });
    expect(sha256Hex(await trusting.fetchPackage(entry))).toBe(packed.sha256);

    const stranger = new RepositoryClient({ url: server.url, trustedKeys: [generateSigningKeyPair().publicKeyPem] });
    await expect(stranger.fetchPackage(entry)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    const { signature: _dropped, ...unsigned } = entry;
    await expect(trusting.fetchPackage(unsigned)).rejects.toMatchObject({ code: 'SIGNATURE_MISSING' });
  });

  it('downloads a package straight to disk: verified, renamed into place, nothing left when refused', async () => {
    await writeRepository();
    for (const chunked of [false, true]) {
      const server = await serve({ chunked });
      const out = join(dir, `download-${chunked}`);
      await mkdir(out);
      const trusting = new RepositoryClient({ url: server.url, trustedKeys: [keys.publicKeyPem] });
      const entry = await onlyEntry(trusting);
      const target = join(out, 'devops-1.2.0.tgz');
      expect(await trusting.downloadPackage(entry, target)).toBe(target);
      expect(sha256Hex(await readFile(target))).toBe(packed.sha256);
      expect(await readdir(out)).toEqual(['devops-1.2.0.tgz']);

      const refusals: Array<[RepositoryClient, IndexEntry, string]> = [
        [new RepositoryClient({ url: server.url, trustedKeys: [generateSigningKeyPair().publicKeyPem] }), entry, 'SIGNATURE_INVALID'],
        [new RepositoryClient({ url: server.url }), { ...entry, digest: sha256Hex('other') }, 'DIGEST_MISMATCH'],
        [new RepositoryClient({ url: server.url, maxPackageSize: 100 }), entry, 'TOO_LARGE'],
      ];
      for (const [client, e, code] of refusals) {
        await expect(client.downloadPackage(e, join(out, 'refused.tgz'))).rejects.toMatchObject({ code });
        expect(await readdir(out), code).toEqual(['devops-1.2.0.tgz']);
      }
    }
    // And from a directory.
    const local = new RepositoryClient({ url: pathToFileURL(repo).href });
    const target = join(dir, 'local.tgz');
    await local.downloadPackage(await onlyEntry(local), target);
    expect(sha256Hex(await readFile(target))).toBe(packed.sha256);
  });

  it('refuses repository URLs it cannot use', () => {
    expect(() => new RepositoryClient({ url: 'ftp://example.com/repo' })).toThrow(RepositoryError);
    expect(() => new RepositoryClient({ url: 'https://user:pw@example.com/repo' })).toThrow(/credentials option/);
    expect(() => new RepositoryClient({ url: 'not a url' })).toThrow(/invalid repository URL/);
  });
});
