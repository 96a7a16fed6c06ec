#!/usr/bin/env node
import { configFromEnv } from './config.js';
import { createCore } from './server.js';

// `npm start`: the core in embedded mode, configured from the environment; never asks for input.
const config = configFromEnv();
const core = await createCore(config);
if (core.generatedAdminPassword) {
  process.stdout.write(`\n  Mortise admin password (shown once): ${core.generatedAdminPassword}\n  Set MORTISE_ADMIN_PASSWORD to choose your own.\n\n`);
}
await core.listen();
process.stdout.write(`  Mortise is running at ${core.url}  (log in as "admin")\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    core.logger.info({ event: 'core.stopping', signal }, 'shutting down');
    core.close().then(() => process.exit(0), (e: Error) => {
      core.logger.error({ err: e.message }, 'shutdown failed');
      process.exit(1);
    });
  });
}
