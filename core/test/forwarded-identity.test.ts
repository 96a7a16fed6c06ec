import { generateKeyPair, SignJWT, decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { ForwardedIdentities } from '../src/gateway/forwarded-identity.js';

// A real signature per token (jose, EdDSA as the core's): what matters here is when a token is reused.
const signer = async () => {
  const { privateKey } = await generateKeyPair('EdDSA');
  let signed = 0;
  return {
    get signed() {
      return signed;
    },
    signForwarded: (claims: Record<string, unknown>, audience: string, ttlSeconds: number) => {
      signed++;
      return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA' }).setAudience(audience).setIssuedAt().setJti(String(signed)).setExpirationTime(`${ttlSeconds}s`).sign(privateKey);
    },
  };
};

describe('forwarded identities', () => {
  const alice = { username: 'alice', groups: ['system:authenticated', 'dev'] };

  it('reuses a token until shortly before it expires, and one about to be renewed not for a caller that needs it longer', async () => {
    const tokens = await signer();
    const ids = new ForwardedIdentities(tokens, { ttlSeconds: 4, renewBeforeSeconds: 2 });
    const first = await ids.token(alice, 'demo');
    expect(await ids.token(alice, 'demo')).toBe(first);
    expect(await ids.token(alice, 'demo', 1_500)).toBe(first); // due for renewal in ~2 s: usable 1.5 s more
    expect(tokens.signed).toBe(1);
    await new Promise((r) => setTimeout(r, 700));
    // ~1.3 s before its renewal: fine for a request now, not for a decision the edge keeps 1.5 s.
    expect(await ids.token(alice, 'demo')).toBe(first);
    const fresher = await ids.token(alice, 'demo', 1_500);
    expect(fresher).not.toBe(first);
    expect(decodeJwt(fresher)).toMatchObject({ sub: 'alice', aud: 'demo', token_use: 'forwarded', groups: ['dev', 'system:authenticated'] });
    // The fresher token is the one reused from now on.
    expect(await ids.token(alice, 'demo')).toBe(fresher);
    expect(tokens.signed).toBe(2);
    // Another extension is another audience: another token.
    expect(await ids.token(alice, 'other')).not.toBe(fresher);
  });
});
