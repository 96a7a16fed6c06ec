import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  generateSigningKeyPair,
  parseRepositoryIndex,
  publishPackage,
  PublishError,
  readPackage,
  RepositoryClient,
  sha256Hex,
} from '@mortise/extension-sdk';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliProcess } from '../../extension-sdk/test/helpers/run-cli-process.js';
import { ADMIN_TOKEN, packFixture, rawPublish, startMarketplace, tempDir, type RunningMarketplace } from './helpers/marketplace.js';

let work: string;
let cleanup: () => Promise<void>;
let market: RunningMarketplace | undefined;
const keys = generateSigningKeyPair();

beforeEach(async () => ({ dir: work, cleanup } = await tempDir('mortise-market-')));
afterEach(async () => {
  await market?.close();
  market = undefined;
  await cleanup();
});

describe('publishing', () => {
  it('pack → publish with the CLI → index.yaml lists the digest → RepositoryClient fetches and verifies it', async () => {
    market = await startMarketplace(join(work, 'data'), { trustedKeys: [keys.publicKeyPem] });
    const packed = await packFixture(work, {}, { signingKey: keys.privateKeyPem });

    const cli = await runCliProcess(['publish', packed.file, '--to', market.url, '--token', ADMIN_TOKEN]);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`published devops 1.2.0 to ${market.url}/main`);
    expect(cli.stdout).toContain(`sha256: ${packed.sha256}`);
    expect(cli.stdout).toContain('signed: yes');

    const indexText = await (await fetch(`${market.url}/main/index.yaml`)).text();
    const entry = parseRepositoryIndex(indexText).entries.devops![0]!;
    expect(entry).toMatchObject({ version: '1.2.0', digest: packed.sha256, urls: ['packages/devops-1.2.0.tgz'], signature: packed.signature });
    expect(indexText).toBe(await readFile(join(work, 'data', 'main', 'index.yaml'), 'utf8'));

    const client = new RepositoryClient({ url: `${market.url}/main/`, trustedKeys: [keys.publicKeyPem] });
    const bytes = await client.fetchPackage((await client.fetchIndex()).entries.devops![0]!);
    expect(Buffer.compare(bytes, await readFile(packed.file))).toBe(0);
    expect((await readPackage(bytes, { expectedSha256: entry.digest })).manifest.version).toBe('1.2.0');
  });

  it('refuses to overwrite a published version with 409, and keeps the original', async () => {
    market = await startMarketplace(join(work, 'data'));
    const packed = await packFixture(work);
    await publishPackage({ marketplaceUrl: market.url, token: ADMIN_TOKEN, package: packed.file });

    const changed = await packFixture(join(work, 'again'), { description: 'same version, different bytes' });
    const error = await publishPackage({ marketplaceUrl: market.url, token: ADMIN_TOKEN, package: changed.file }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect(error).toMatchObject({ status: 409, code: 'VersionExists', message: 'publish refused (409): devops 1.2.0 is already published; publish a new version instead' });

    // The CLI takes the repository's URL, as users add it, and says what to do.
    const cli = await runCliProcess(['publish', changed.file, '--to', `${market.url}/main`, '--token', ADMIN_TOKEN]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe(`error: devops 1.2.0 is already published in ${market.url}/main, and a published version never changes: change \`version\` in extension.yaml, pack again and publish that\n`);

    // A renamed file is not mistaken for a new version.
    const { copyFile } = await import('node:fs/promises');
    const renamed = join(work, 'devops-1.3.0.tgz');
    await copyFile(changed.file, renamed);
    const misnamed = await runCliProcess(['publish', renamed, '--to', `${market.url}/main`, '--token', ADMIN_TOKEN]);
    expect(misnamed.code).toBe(1);
    expect(misnamed.stderr).toBe('error: devops-1.3.0.tgz holds devops 1.2.0 (its extension.yaml says so), so it would be devops-1.2.0.tgz: to publish another version, change `version` in extension.yaml and pack again (renaming the file does not change the version)\n');

    // Yank with the CLI, through the marketplace's API.
    const yank = await runCliProcess(['yank', 'devops', '1.2.0', '--from', `${market.url}/main`, '--reason', 'broken config', '--token', ADMIN_TOKEN]);
    expect(yank.stderr).toBe('');
    expect(yank.stdout).toContain(`yanked devops 1.2.0 in ${market.url}/main (broken config)`);
    expect(parseRepositoryIndex(await (await fetch(`${market.url}/main/index.yaml`)).text()).entries.devops![0]).toMatchObject({ yanked: true, yankedReason: 'broken config' });

    expect(sha256Hex(await readFile(join(work, 'data', 'main', 'packages', 'devops-1.2.0.tgz')))).toBe(packed.sha256);
  });

  it('answers 401 to a missing or wrong token before reading the package', async () => {
    market = await startMarketplace(join(work, 'data'));
    const packed = await packFixture(work);
    const body = await readFile(packed.file);
    expect(await rawPublish(market.url, body, { authorization: 'Bearer wrong-token' })).toMatchObject({
      status: 401,
      body: { error: { code: 'Unauthorized', message: 'the token is not valid' } },
    });
    const response = await fetch(`${market.url}/api/v1/repositories/main/packages`, { method: 'POST', body });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: 'Unauthorized', message: 'a bearer token is required' } });

    const cli = await runCliProcess(['publish', packed.file, '--to', market.url, '--token', 'nope']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe('error: publish refused (401): the token is not valid\n');
    expect(await readdir(join(work, 'data', 'main', 'packages'))).toEqual([]);
  });

  it('refuses a package that does not match its declared sha256', async () => {
    market = await startMarketplace(join(work, 'data'));
    const packed = await packFixture(work);
    const result = await rawPublish(market.url, await readFile(packed.file), { 'x-mortise-sha256': sha256Hex('other') });
    expect(result.status).toBe(400);
    expect(result.body.error).toMatchObject({ code: 'DigestMismatch', message: expect.stringContaining('damaged or changed in transit') });
  });

  it('checks signatures against the trusted keys and requires them when configured', async () => {
    market = await startMarketplace(join(work, 'data'), { trustedKeys: [keys.publicKeyPem], requireSignature: true });
    const unsigned = await packFixture(work, { version: '1.0.0' });
    const body = await readFile(unsigned.file);

    expect(await rawPublish(market.url, body)).toMatchObject({ status: 422, body: { error: { code: 'SignatureRequired' } } });

    const stranger = await packFixture(join(work, 'x'), { version: '1.0.0' }, { signingKey: generateSigningKeyPair().privateKeyPem });
    expect(await rawPublish(market.url, await readFile(stranger.file), { 'x-mortise-signature': stranger.signature! })).toMatchObject({
      status: 422,
      body: { error: { code: 'SignatureInvalid' } },
    });

    // A genuine signature of a different package does not cover this one.
    const other = await packFixture(join(work, 'y'), { version: '9.0.0' }, { signingKey: keys.privateKeyPem });
    expect(await rawPublish(market.url, body, { 'x-mortise-signature': other.signature! })).toMatchObject({ status: 422 });

    const signed = await packFixture(join(work, 'z'), { version: '1.0.0' }, { signingKey: keys.privateKeyPem });
    const accepted = await rawPublish(market.url, await readFile(signed.file), { 'x-mortise-signature': signed.signature! });
    expect(accepted.status).toBe(201);
    expect(accepted.body.entry).toMatchObject({ version: '1.0.0', signature: signed.signature });
  });

  it('refuses unsafe packages and invalid manifests with 422 and says why', async () => {
    market = await startMarketplace(join(work, 'data'));
    const block = (h: ConstructorParameters<typeof Header>[0]) => {
      const b = Buffer.alloc(512);
      new Header(h).encode(b);
      return b;
    };
    const manifest = Buffer.from('apiVersion: mortise.io/v1alpha1\n');
    const hostile = gzipSync(
      Buffer.concat([
        block({ path: 'extension.yaml', type: 'File', size: manifest.length, mode: 0o644, mtime: new Date(0) }),
        manifest,
        Buffer.alloc(512 - manifest.length),
        block({ path: 'evil', type: 'SymbolicLink', linkpath: '/etc/passwd', size: 0, mode: 0o777, mtime: new Date(0) }),
        Buffer.alloc(1024),
      ]),
    );
    expect(await rawPublish(market.url, hostile)).toEqual({
      status: 422,
      body: { error: { code: 'InvalidPackage', message: 'package entry "evil" is a symbolic link; packages may hold only regular files and directories' } },
    });

    const invalid = gzipSync(Buffer.concat([block({ path: 'extension.yaml', type: 'File', size: manifest.length, mode: 0o644, mtime: new Date(0) }), manifest, Buffer.alloc(512 - manifest.length), Buffer.alloc(1024)]));
    const refused = await rawPublish(market.url, invalid);
    expect(refused.status).toBe(422);
    expect(refused.body.error?.code).toBe('InvalidManifest');
    expect(refused.body.error?.details).toMatchObject({ problems: expect.arrayContaining([{ path: '/kind', message: 'is required' }]) });

    expect(await rawPublish(market.url, Buffer.from('not a package'))).toMatchObject({ status: 422, body: { error: { code: 'InvalidPackage' } } });
    expect(await rawPublish(market.url, Buffer.alloc(0))).toMatchObject({ status: 400 });
  });

  it('answers 413 to packages over the size limit', async () => {
    market = await startMarketplace(join(work, 'data'), { limits: { maxPackageSize: 512 } });
    const packed = await packFixture(work);
    expect(await rawPublish(market.url, await readFile(packed.file))).toMatchObject({ status: 413, body: { error: { code: 'PackageTooLarge' } } });
  });

  it('lets a publisher token act only on its own extensions', async () => {
    market = await startMarketplace(join(work, 'data'), {
      tokens: [{ token: ADMIN_TOKEN }, { token: 'acme-token-123456', publisher: 'Acme' }, { token: 'other-token-123456', publisher: 'Other' }],
    });
    const packed = await packFixture(work);
    await expect(publishPackage({ marketplaceUrl: market.url, token: 'other-token-123456', package: packed.file })).rejects.toMatchObject({ status: 403, code: 'Forbidden' });
    await expect(publishPackage({ marketplaceUrl: market.url, token: 'acme-token-123456', package: packed.file })).resolves.toMatchObject({ status: 201 });
  });

  it('answers 404 for a repository that does not exist', async () => {
    market = await startMarketplace(join(work, 'data'));
    const packed = await packFixture(work);
    expect(await rawPublish(market.url, await readFile(packed.file), {}, 'nope')).toMatchObject({
      status: 404,
      body: { error: { code: 'NotFound', message: 'repository "nope" does not exist' } },
    });
    expect((await fetch(`${market.url}/nope/index.yaml`)).status).toBe(404);
  });

  it('leaves no temporary files and keeps everything across a restart', async () => {
    const dataDir = join(work, 'data');
    market = await startMarketplace(dataDir);
    const packed = await packFixture(work);
    await publishPackage({ marketplaceUrl: market.url, token: ADMIN_TOKEN, package: packed.file });
    const download = await fetch(`${market.url}/main/packages/devops-1.2.0.tgz`);
    expect(download.status).toBe(200);
    expect(sha256Hex(Buffer.from(await download.arrayBuffer()))).toBe(packed.sha256);
    await market.close();
    expect((await readdir(join(dataDir, 'main'))).sort()).toEqual(['index.yaml', 'packages']);
    expect(await readdir(join(dataDir, 'main', 'packages'))).toEqual(['devops-1.2.0.tgz']);

    market = await startMarketplace(dataDir);
    const details = await (await fetch(`${market.url}/api/v1/repositories/main/extensions/devops`)).json();
    expect(details).toMatchObject({ latestVersion: '1.2.0', downloads: 1, versions: [{ version: '1.2.0', downloads: 1 }] });
  });
});
