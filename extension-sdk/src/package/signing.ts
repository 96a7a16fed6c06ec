import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { sha256Hex, isSha256Hex } from './digest.js';

/**
 * Package signatures: ed25519 over the package's sha256 digest. The signed message carries a
 * fixed prefix so a key used here can never be tricked into signing something meaningful
 * elsewhere (domain separation).
 */
const SIGNED_MESSAGE_PREFIX = 'mortise-extension-package:sha256:';
const ED25519_SIGNATURE_BYTES = 64;

export interface SigningKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Base64 ed25519 signature of a sha256 hex digest. */
export function signDigest(sha256: string, privateKey: string | KeyObject): string {
  if (!isSha256Hex(sha256)) throw new TypeError('signDigest expects a lowercase sha256 hex digest');
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  assertEd25519(key);
  return sign(null, signedMessage(sha256), key).toString('base64');
}

/**
 * True when `signature` is a valid signature of `sha256` by any of `publicKeys`. Malformed
 * digests or signatures are simply not valid; a key that is not ed25519 is a configuration
 * error and throws.
 */
export function verifyDigestSignature(
  sha256: string,
  signature: string,
  publicKeys: string | KeyObject | ReadonlyArray<string | KeyObject>,
): boolean {
  const keys = (Array.isArray(publicKeys) ? publicKeys : [publicKeys]) as Array<string | KeyObject>;
  const parsedKeys = keys.map(toPublicKey);
  const bytes = decodeSignature(signature);
  if (!bytes || !isSha256Hex(sha256)) return false;
  return parsedKeys.some((key) => verify(null, signedMessage(sha256), key, bytes));
}

/** Short, stable identifier of a public key: sha256 of its SPKI DER, first 16 hex chars. */
export function publicKeyFingerprint(publicKey: string | KeyObject): string {
  const der = toPublicKey(publicKey).export({ type: 'spki', format: 'der' });
  return sha256Hex(der).slice(0, 16);
}

/** Parses a PEM public key (or derives it from a private key) and checks it is ed25519. */
export function toPublicKey(key: string | KeyObject): KeyObject {
  const parsed = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
  assertEd25519(parsed);
  return parsed;
}

/** True when `signature` is base64 of the 64 bytes of an ed25519 signature (not that it verifies). */
export function isWellFormedSignature(signature: string): boolean {
  return decodeSignature(signature) !== undefined;
}

function signedMessage(sha256: string): Buffer {
  return Buffer.from(SIGNED_MESSAGE_PREFIX + sha256, 'utf8');
}

function decodeSignature(signature: string): Buffer | undefined {
  const trimmed = signature.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed, 'base64');
  return bytes.length === ED25519_SIGNATURE_BYTES ? bytes : undefined;
}

function assertEd25519(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`package signing keys must be ed25519, got ${key.asymmetricKeyType ?? 'a symmetric key'}`);
  }
}
