import { join } from 'node:path';
import { packExtension, type PackResult } from '@mortise/extension-sdk';
import { createMarketplaceServer, type MarketplaceOptions, type MarketplaceServer } from '../../src/index.js';
import { fullManifest, minimalManifest, tempDir, writeExtensionDir } from '../../../extension-sdk/test/helpers/fixtures.js';

export { fullManifest, minimalManifest, tempDir, writeExtensionDir };

export const ADMIN_TOKEN = 'admin-token-0123456789';

export interface RunningMarketplace {
  server: MarketplaceServer;
  url: string;
  dataDir: string;
  close(): Promise<void>;
}

/** A marketplace on 127.0.0.1 and a random port, with an admin token and quiet logs. */
export async function startMarketplace(dataDir: string, options: Partial<MarketplaceOptions> = {}): Promise<RunningMarketplace> {
  const server = await createMarketplaceServer({ dataDir, tokens: [{ token: ADMIN_TOKEN }], logLevel: 'silent', ...options });
  const { url } = await server.listen(0, '127.0.0.1');
  return { server, url, dataDir, close: () => server.close() };
}

/** Writes and packs an extension; `name` and `version` vary, everything else is the full fixture. */
export async function packFixture(
  workDir: string,
  overrides: Record<string, unknown> = {},
  options: { signingKey?: string; minimal?: boolean } = {},
): Promise<PackResult> {
  const manifest = options.minimal ? minimalManifest(overrides) : fullManifest(overrides);
  const source = join(workDir, 'src', `${String(manifest.name)}-${String(manifest.version)}`);
  await writeExtensionDir(source, manifest);
  return packExtension(source, { outDir: join(workDir, 'packages'), signingKey: options.signingKey });
}

/** POSTs bytes to the publish route with the given headers; returns status and JSON body. */
export async function rawPublish(url: string, body: Buffer, headers: Record<string, string> = {}, repository = 'main') {
  const response = await fetch(`${url}/api/v1/repositories/${repository}/packages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/gzip', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as { error?: { code: string; message: string; details?: unknown }; entry?: Record<string, unknown> } };
}

export async function getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}
