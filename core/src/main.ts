#!/usr/bin/env node
import { configFromEnv } from './config.js';
import { createCore } from './server.js';
import { servePrimary } from './cluster/serve-primary.js';
import { workersFromEnv } from './cluster/worker-count.js';
import { dirname, join } from 'node:path';
import { corePackageDir } from './package-dir.js';
import { buildBundledRepository, registerBundledRepository } from './extensions/bundled-repository.js';

// `npm start`: the core in embedded mode, configured from the environment; never asks for input.

// A reader of standard output that goes away (a log collector that stops, `| head`) must not stop
// the core: what it would have printed is lost, the core serves on and stops when told to.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});
const config = configFromEnv();
// MORTISE_WORKERS ≥ 2: that many processes serve clients, this one writes the store (core/src/cluster).
// In kubernetes mode the core scales by replicas: one process each.
// With the native edge, nginx serves on every core and the core runs as one process (docs/edge.md).
const workers = config.mode === 'kubernetes' || (config.edge && !process.env.MORTISE_WORKERS?.trim()) ? 1 : workersFromEnv(process.env.MORTISE_WORKERS);
if (config.mode === 'kubernetes' && workersFromEnv(process.env.MORTISE_WORKERS, 1) > 1) {
  throw new Error('MORTISE_WORKERS above 1 needs the embedded store; in kubernetes mode run more replicas instead');
}
const serving = workers > 1 ? await servePrimary(config, workers) : undefined;
const core = serving?.core ?? await createCore(config);

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
if (!serving) await core.listen();
announce('core.ready', { url: core.url, httpsUrl: core.httpsUrl }, `Mortise is running at ${core.url} (log in as "admin")`,
  `  Mortise is running at ${core.url}  (log in as "admin")\n`);
// The extensions shipped in this checkout become the `bundled` repository: packed once the core
// serves (packing and validating them is most of a warm start), then synced like any repository.
if (process.env.MORTISE_BUNDLED_REPOSITORY !== 'off' && config.dataDir) {
  const root = dirname(corePackageDir());
  const dataDir = config.dataDir;
  void (async () => {
    const bundled = await buildBundledRepository([join(root, 'examples'), join(root, 'extensions')], join(dataDir, 'bundled-repository'), core.logger);
    await registerBundledRepository(core.service, core.kinds, bundled.url);
  })().catch((e: Error) => core.logger.error({ event: 'bundled-repository.failed', err: e.message }, 'could not build the bundled repository'));
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    core.logger.info({ event: 'core.stopping', signal }, 'shutting down');
    (serving?.cluster.stop() ?? Promise.resolve()).then(() => core.close()).then(() => process.exit(0), (e: Error) => {
      core.logger.error({ err: e.message }, 'shutdown failed');
      process.exit(1);
    });
  });
}
