import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import type { ResourceStore } from '../store/resource-store.js';
import { signingKeysRef } from './internal-kinds.js';

export const signingAlgorithm = 'RS256';

interface StoredKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: string;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * The core's token signing keys, kept in the store so tokens stay valid across restarts
 * (and across replicas in the kubernetes mode). The newest key signs; all verify.
 */
export class SigningKeys {
  private keys: SigningKey[] = [];

  constructor(private readonly store: ResourceStore) {}

  async load(): Promise<void> {
    const { items } = await this.store.list(signingKeysRef);
    if (items.length === 0) {
      await this.rotate();
      return;
    }
    const stored = items.map((i) => i.data as StoredKey).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    this.keys = await Promise.all(stored.map((s) => this.materialize(s)));
  }

  /** Adds a fresh key that signs from now on; older keys keep verifying. */
  async rotate(): Promise<SigningKey> {
    const kid = randomUUID();
    const { privateKey, publicKey } = await generateKeyPair(signingAlgorithm, { extractable: true });
    const stored: StoredKey = {
      kid,
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: signingAlgorithm },
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: signingAlgorithm, use: 'sig' },
      createdAt: new Date().toISOString(),
    };
    await this.store.create(signingKeysRef, { metadata: { name: kid, uid: kid }, data: stored });
    const key = await this.materialize(stored);
    this.keys.push(key);
    return key;
  }

  current(): SigningKey {
    const key = this.keys[this.keys.length - 1];
    if (!key) throw new Error('signing keys not loaded');
    return key;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }

  private async materialize(s: StoredKey): Promise<SigningKey> {
    return { kid: s.kid, privateKey: (await importJWK(s.privateJwk, signingAlgorithm)) as CryptoKey, publicJwk: s.publicJwk };
  }
}
