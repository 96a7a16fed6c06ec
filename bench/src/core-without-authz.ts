import { createCore } from '../../core/dist/index.js';

// The baseline for "what does authorization cost": the same core with an authorizer that allows
// everything. Only the benchmark starts it; the core itself has no switch to turn RBAC off.
const core = await createCore({
  dataDir: process.env.MORTISE_DATA_DIR, host: '127.0.0.1', port: Number(process.env.PORT), adminPassword: process.env.MORTISE_ADMIN_PASSWORD,
  logLevel: 'warn',
  authorizer: { authorize: async () => ({ allowed: true, reason: 'benchmark baseline' }) },
});
await core.listen();
process.on('SIGTERM', () => void core.close().then(() => process.exit(0)));
