import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateSigningKeyPair,
  isWellFormedSignature,
  publicKeyFingerprint,
  sha256Hex,
  signDigest,
  verifyDigestSignature,
} from '../src/index.js';

describe('package signatures', () => {
  const keys = generateSigningKeyPair();
  const digest = sha256Hex('package bytes');

  it('generates PEM ed25519 key pairs', () => {
    expect(keys.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(keys.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(publicKeyFingerprint(keys.publicKeyPem)).toMatch(/^[0-9a-f]{16}$/);
    expect(publicKeyFingerprint(keys.privateKeyPem)).toBe(publicKeyFingerprint(keys.publicKeyPem));
  });

  it('round-trips: a signature verifies with the matching public key', () => {
    const signature = signDigest(digest, keys.privateKeyPem);
    expect(isWellFormedSignature(signature)).toBe(true);
    expect(Buffer.from(signature, 'base64')).toHaveLength(64);
    expect(verifyDigestSignature(digest, signature, keys.publicKeyPem)).toBe(true);
  });

  it('accepts a signature by any of several trusted keys', () => {
    const signature = signDigest(digest, keys.privateKeyPem);
    const other = generateSigningKeyPair();
    expect(verifyDigestSignature(digest, signature, [other.publicKeyPem, keys.publicKeyPem])).toBe(true);
    expect(verifyDigestSignature(digest, signature, [other.publicKeyPem])).toBe(false);
  });

  it('detects a changed digest, a changed signature and garbage', () => {
    const signature = signDigest(digest, keys.privateKeyPem);
    expect(verifyDigestSignature(sha256Hex('other bytes'), signature, keys.publicKeyPem)).toBe(false);
    const flipped = Buffer.from(signature, 'base64');
    flipped[0] ^= 1;
    expect(verifyDigestSignature(digest, flipped.toString('base64'), keys.publicKeyPem)).toBe(false);
    expect(verifyDigestSignature(digest, 'not base64!', keys.publicKeyPem)).toBe(false);
    expect(verifyDigestSignature(digest, Buffer.alloc(10).toString('base64'), keys.publicKeyPem)).toBe(false);
    expect(verifyDigestSignature('abc', signature, keys.publicKeyPem)).toBe(false);
  });

  it('signs the digest with a domain prefix, not the bare digest', async () => {
    const { sign, createPrivateKey } = await import('node:crypto');
    const bare = sign(null, Buffer.from(digest), createPrivateKey(keys.privateKeyPem)).toString('base64');
    expect(verifyDigestSignature(digest, bare, keys.publicKeyPem)).toBe(false);
  });

  it('refuses keys that are not ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => signDigest(digest, rsaPem)).toThrow(/must be ed25519, got rsa/);
    expect(() => verifyDigestSignature(digest, 'x', rsa.publicKey)).toThrow(/must be ed25519/);
    expect(() => signDigest('not-a-digest', keys.privateKeyPem)).toThrow(/sha256 hex digest/);
  });
});
