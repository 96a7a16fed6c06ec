#!/usr/bin/env node
import { configFromEnv } from './config.js';
import { createCore } from './server.js';

// `npm start`: the core in embedded mode, configured from the environment; never asks for input.
const config = configFromEnv();
const core = await createCore(config);

/**
 * What the person who started the core must see, whatever the log level: plain lines on a
 * terminal; otherwise (a service manager, a container, a pipe) one JSON object per line like
 * every log line, so log collectors keep parsing stdout.
 */
function announce(event: string, fields: Record<string, unknown>, msg: string, human: string): void {
  if (process.stdout.isTTY) process.stdout.write(human);
  else process.stdout.write(`${JSON.stringify({ level: 'info', time: new Date().toISOString(), name: 'mortise', event, ...fields, msg })}\n`);
}

if (core.generatedAdminPassword) {
  announce('bootstrap.password', { username: 'admin', password: core.generatedAdminPassword },
    'generated the password of "admin"; it is shown once: set MORTISE_ADMIN_PASSWORD to choose your own',
    `\n  Mortise admin password (shown once): ${core.generatedAdminPassword}\n  Set MORTISE_ADMIN_PASSWORD to choose your own.\n\n`);
}
await core.listen();
announce('core.ready', { url: core.url, httpsUrl: core.httpsUrl }, `Mortise is running at ${core.url} (log in as "admin")`,
  `  Mortise is running at ${core.url}  (log in as "admin")\n`);

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
