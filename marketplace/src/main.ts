#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createMarketplaceServer } from './server.js';
import { parseTokens } from './tokens-env.js';

const usage = `usage: mortise-marketplace --data-dir DIR [--port 8090] [--host 127.0.0.1] [--base-url URL]
                           [--repository NAME]... [--require-signature --trusted-key FILE...]
Publish tokens come from MARKETPLACE_TOKENS: "tok1,tok2" or '[{"token":"...","publisher":"Acme"}]'.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string', default: process.env.PORT ?? '8090' },
      host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
      'base-url': { type: 'string' },
      repository: { type: 'string', multiple: true },
      'require-signature': { type: 'boolean', default: false },
      'trusted-key': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const dataDir = values['data-dir'] ?? process.env.MARKETPLACE_DATA_DIR;
  if (!dataDir) throw new Error(`--data-dir is required\n${usage}`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);

  const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'mortise-marketplace' } });
  const tokens = parseTokens(process.env.MARKETPLACE_TOKENS);
  if (tokens.length === 0) logger.warn('MARKETPLACE_TOKENS is empty, so nobody can publish');
  const trustedKeys = await Promise.all((values['trusted-key'] ?? []).map((file) => readFile(file, 'utf8')));
  const server = await createMarketplaceServer({
    dataDir,
    tokens,
    trustedKeys,
    requireSignature: values['require-signature'],
    baseUrl: values['base-url'],
    repositories: values.repository,
    logger,
  });
  await server.listen(port, values.host);

  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${(error as Error).message}\n`);
  process.exit(1);
});
