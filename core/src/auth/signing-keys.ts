import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { ResourceStore, Watcher } from '../store/resource-store.js';
import { signingKeysRef } from './internal-kinds.js';

/**
 * Access tokens: ES256, which every JWT library and OIDC verifier takes. Every API call carries
 * one: at ~440 bytes it is ~40 % shorter than an RS256 one (~730), and a proxy reads a request
 * head a byte at a time (nginx: ~11 instructions a byte, ~3,000 a request for the difference);
 * signing one (a login, a refresh) is ~10× cheaper.
 */
export const signingAlgorithm = 'ES256';
/** Access tokens before ES256: the core's first keys, stored without an algorithm; they keep verifying the tokens they signed. */
export const legacyAlgorithm = 'RS256';
/**
 * Identities the gateway forwards to extensions: Ed25519. Every proxied request carries one: its
 * 86-character signature (RS256's is 342) makes the token ~40 % shorter on the wire, and signing
 * one (a cache miss of the gateway or the edge) ~4× cheaper. The SDK has accepted EdDSA from its
 * first version.
 */
export const forwardedAlgorithm = 'EdDSA';
export type SigningAlgorithm = typeof signingAlgorithm | typeof forwardedAlgorithm | typeof legacyAlgorithm;
const algorithms: SigningAlgorithm[] = [signingAlgorithm, forwardedAlgorithm];

/** Oldest first; keys made in the same millisecond (two replicas) in one order everywhere. */
// ISO timestamps and UUIDs: their code-unit order is the order meant. (localeCompare's first call
// loads ICU's collation data, 12–40 ms of every start's critical path.)
const compare = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
const byAge = (a: { createdAt: string; kid: string }, b: { createdAt: string; kid: string }) => compare(a.createdAt, b.createdAt) || compare(a.kid, b.kid);

interface StoredKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: string;
  /** Absent on keys stored before there were several: RS256. */
  alg?: SigningAlgorithm;
}

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * The core's token signing keys, kept in the store so tokens stay valid across restarts
 * (and across replicas in the kubernetes mode): one series per algorithm, whose newest key
 * signs; all verify, and all are published at /oauth/keys.
 */
export class SigningKeys {
  /** Oldest first. */
  private keys: SigningKey[] = [];
  private watcher?: Watcher;

  constructor(private readonly store: ResourceStore) {}

  async load(): Promise<void> {
    const since = await this.store.currentResourceVersion();
    const { items } = await this.store.list(signingKeysRef);
    this.keys = (await Promise.all(items.map((i) => this.materialize(i.data as StoredKey)))).sort(byAge);
    // Keys another replica makes (both may start at once with none): published and verified here too.
    this.watcher = this.store.watch(signingKeysRef, { sinceResourceVersion: since, cache: true }, (e) => {
      if (e.type === 'ADDED' && e.object?.data) void this.learn(e.object.data as StoredKey).catch(() => undefined);
    });
    // A first start, or the first since access tokens and forwarded identities had keys of their own.
    await Promise.all(algorithms.filter((alg) => !this.keys.some((k) => k.alg === alg)).map((alg) => this.rotate(alg)));
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = undefined;
  }

  /** A stored key not yet known, kept in creation order (the newest of its algorithm signs). */
  private async learn(s: StoredKey): Promise<void> {
    if (this.keys.some((k) => k.kid === s.kid)) return;
    const key = await this.materialize(s);
    if (this.keys.some((k) => k.kid === s.kid)) return;
    this.keys = [...this.keys, key].sort(byAge);
  }

  /** Adds a fresh key that signs `alg`'s tokens from now on; older keys keep verifying. */
  async rotate(alg: SigningAlgorithm = signingAlgorithm): Promise<SigningKey> {
    const kid = randomUUID();
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const stored: StoredKey = {
      kid,
      alg,
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg },
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
      createdAt: new Date().toISOString(),
    };
    await this.store.create(signingKeysRef, { metadata: { name: kid, uid: kid }, data: stored });
    await this.learn(stored);
    return this.keys.find((k) => k.kid === kid)!;
  }

  /** The key that signs `alg`'s tokens now. */
  current(alg: SigningAlgorithm = signingAlgorithm): SigningKey {
    const key = this.keys.findLast((k) => k.alg === alg);
    if (!key) throw new Error('signing keys not loaded');
    return key;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  private async materialize(s: StoredKey): Promise<SigningKey> {
    const alg = s.alg ?? legacyAlgorithm;
    return { kid: s.kid, alg, createdAt: s.createdAt, privateKey: (await importJWK(s.privateJwk, alg)) as CryptoKey, publicJwk: s.publicJwk };
  }
}
