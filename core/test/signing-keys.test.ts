import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { signingKeysRef } from '../src/auth/internal-kinds.js';
import { SigningKeys } from '../src/auth/signing-keys.js';
import { TokenService } from '../src/auth/token-service.js';
import { SqliteStore } from '../src/store/sqlite-store.js';

describe('signing keys', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const store = () => {
    const dir = mkdtempSync(join(tmpdir(), 'signing-keys-'));
    const s = new SqliteStore({ path: join(dir, 'store.db') });
    cleanups.push(() => {
      void s.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return s;
  };
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(check()).toBe(true);
  };

  it('keeps an RSA key stored before keys had an algorithm (its access tokens stay valid), and adds the keys of access tokens (P-256) and forwarded identities (Ed25519)', async () => {
    const s = store();
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = 'stored-before';
    await s.create(signingKeysRef, {
      metadata: { name: kid, uid: kid },
      data: { kid, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256' }, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }, createdAt: '2026-01-01T00:00:00.000Z' },
    });
    const keys = new SigningKeys(s);
    await keys.load();
    cleanups.unshift(() => keys.stop());
    expect(keys.current('RS256').kid).toBe(kid);
    expect(keys.current('ES256')).toMatchObject({ alg: 'ES256', publicJwk: { kty: 'EC', crv: 'P-256', alg: 'ES256' } });
    expect(keys.current('EdDSA')).toMatchObject({ alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' } });
    const published = keys.jwks().keys.map((k) => k.kid);
    expect(published[0]).toBe(kid);
    expect(published.slice(1).sort()).toEqual([keys.current('ES256').kid, keys.current('EdDSA').kid].sort());
    // An access token the RSA key signed before the upgrade is still accepted; new ones are ES256.
    const tokens = new TokenService(keys, s, { issuer: () => 'https://core.example', clients: ['mortise-console'] });
    const before = await new SignJWT({ sub: 'alice', token_use: 'access' }).setProtectedHeader({ alg: 'RS256', kid }).setIssuer('https://core.example').setAudience('mortise-console').setIssuedAt().setExpirationTime('1h').sign(privateKey);
    expect((await tokens.verifyAccessToken(before)).sub).toBe('alice');
    const now = await tokens.sign({ sub: 'bob', token_use: 'access' }, 'mortise-console', 60);
    expect(decodeProtectedHeader(now)).toMatchObject({ alg: 'ES256', kid: keys.current('ES256').kid });
    expect((await tokens.verifyAccessToken(now)).sub).toBe('bob');
    // A forwarded identity, signed by a key the core publishes, is still no access token.
    await expect(tokens.verifyAccessToken(await tokens.signForwarded({ sub: 'bob', token_use: 'access' }, 'mortise-console', 60))).rejects.toThrow();
    // A restart makes no more keys.
    const again = new SigningKeys(s);
    await again.load();
    again.stop();
    expect((await s.list(signingKeysRef)).items).toHaveLength(3);
  });

  it('two replicas starting together on an empty store end with the same keys, and sign with the same ones', async () => {
    const s = store();
    const a = new SigningKeys(s);
    const b = new SigningKeys(s);
    await Promise.all([a.load(), b.load()]);
    cleanups.unshift(() => a.stop(), () => b.stop());
    const stored = (await s.list(signingKeysRef)).items.length;
    expect(stored).toBeGreaterThanOrEqual(2); // one per algorithm, two when both made them
    // Each publishes (and so verifies with) every stored key, the other's included.
    await until(() => a.jwks().keys.length === stored && b.jwks().keys.length === stored);
    expect(a.jwks()).toEqual(b.jwks());
    for (const alg of ['ES256', 'EdDSA'] as const) expect(a.current(alg).kid).toBe(b.current(alg).kid);
    // A key one of them makes later reaches the other.
    const rotated = await a.rotate('EdDSA');
    await until(() => b.current('EdDSA').kid === rotated.kid);
    expect(b.jwks().keys.map((k) => k.kid)).toContain(rotated.kid);
  });
});
