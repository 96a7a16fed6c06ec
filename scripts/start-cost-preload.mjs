// Preloaded by scripts/start-cost.mjs in its counting run: lists every ES module loaded (one URL a
// line, from the hooks thread) and, on SIGUSR2, writes how many CommonJS files require has cached.
import { register, createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

register(new URL('./start-cost-hooks.mjs', import.meta.url), { data: { file: process.env.START_COST_ESM } });
const cache = createRequire(import.meta.url).cache;
process.on('SIGUSR2', () => writeFileSync(process.env.START_COST_CJS, String(Object.keys(cache).length)));
