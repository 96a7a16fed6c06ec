import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, generateKeyPair } from 'jose';
import { spawnServer } from './processes.js';
import { medianRatio, roundRobin, type RoundRobinTarget } from './round-robin.js';
import { wrk } from './wrk.js';

// `node bench/dist/header-cost.js`: what the headers a gateway must send cost the backend behind
// it. hello-world's backend (the SDK's koa app) on its own, its /healthz under wrk straight from
// here, with: nothing more (what plain nginx sends it), the forwarded identity (a token as the core
// signs it, EdDSA, and as it did before, RS256), X-Forwarded-For/-Proto/-Host/-Prefix, and all the
// edge sends. Interleaved 1-s rounds (BENCH_ROUNDS, default 10) at c=64 (BENCH_C): the backend's
// CPU per request and req/s as a share of "nothing more"'s. Where the backend is what saturates
// (one Node process at c=64 on two cores), no proxy that sends those headers can do better than
// that share of plain nginx's req/s.

const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const connections = Number(process.env.BENCH_C ?? 64);
const backendMain = join(dirname(fileURLToPath(import.meta.url)), '../../examples/hello-world/dist/server.js');

/** A forwarded identity as the core signs one (forwarded-identity.ts, token-service.ts), with `alg`'s key. */
async function identity(alg: 'EdDSA' | 'RS256'): Promise<string> {
  const { privateKey } = await generateKeyPair(alg);
  const jwt = new SignJWT({ sub: 'admin', groups: ['system:authenticated', 'system:masters'], token_use: 'forwarded' })
    .setProtectedHeader({ alg, kid: crypto.randomUUID(), typ: 'JWT' }).setIssuer('http://127.0.0.1:40123').setAudience('hello-world').setIssuedAt().setExpirationTime('60s');
  // Access tokens (and forwarded identities before they had a key of their own) carry a jti.
  return (alg === 'RS256' ? jwt.setJti(crypto.randomUUID()) : jwt).sign(privateKey);
}

const dataDir = mkdtempSync(join(tmpdir(), 'bench-header-cost-'));
const backend = await spawnServer(backendMain, { MORTISE_EXTENSION: 'hello-world', MORTISE_CORE_URL: 'http://127.0.0.1:9', MORTISE_DATA_DIR: dataDir }, '/healthz');
try {
  const [eddsa, rs256] = [await identity('EdDSA'), await identity('RS256')];
  const forwarded = { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': '127.0.0.1:8081', 'x-forwarded-prefix': '/proxy/hello-world' };
  const variants: Array<[string, Record<string, string>]> = [
    ['nothing more', {}],
    [`identity, EdDSA (${eddsa.length} bytes)`, { 'x-mortise-identity': eddsa }],
    [`identity, RS256 (${rs256.length} bytes)`, { 'x-mortise-identity': rs256 }],
    ['X-Forwarded-For/-Proto/-Host/-Prefix', forwarded],
    ['all the edge sends (EdDSA identity)', { 'x-mortise-identity': eddsa, ...forwarded }],
    ['all, with the RS256 identity', { 'x-mortise-identity': rs256, ...forwarded }],
  ];
  const url = `${backend.url}/healthz`;
  for (const [, headers] of variants) await wrk({ url, headers, connections: 8, durationSec: 2 });
  const targets: RoundRobinTarget[] = variants.map(([name, headers]) => ({ name, pids: [backend.child.pid!], run: (s) => wrk({ url, headers, connections, durationSec: s }) }));
  const m = await roundRobin(targets, rounds);
  const base = m[variants[0]![0]]!;
  console.log(`hello-world's backend, GET /healthz, c=${connections}, ${rounds} interleaved rounds of 1 s`);
  console.log('');
  console.log('| headers sent besides Host | req/s | share of "nothing more" (median of rounds) | backend CPU µs/req |');
  console.log('|---|---|---|---|');
  for (const [name] of variants) {
    const r = m[name]!;
    console.log(`| ${name} | ${r.rps} | ${medianRatio(r, base).toFixed(2)}× | ${r.cpuUsPerRequest ?? '?'} |`);
  }
} finally {
  await backend.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
