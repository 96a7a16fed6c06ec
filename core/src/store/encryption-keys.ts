import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';

/** What the store uses to keep some kinds' objects unreadable on disk. */
export interface ValueCodec {
  /** The text to store for a JSON document. */
  seal(plaintext: string): string;
  /** The JSON document back; text written before encryption was enabled is returned as is. */
  open(stored: string): string;
  /** True when `stored` is not sealed with the key that encrypts new writes (rotation pending). */
  isStale(stored: string): boolean;
}

const prefix = 'mortise:aesgcm:v1:';
const keyIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

interface Key { id: string; key: Buffer }

/**
 * AES-256-GCM keys for encryption at rest (Kubernetes' EncryptionConfiguration, reduced to one
 * provider). The key file holds one key per line, `<id> <base64 of 32 bytes>`; the first line
 * encrypts new writes, every line decrypts. Stored values name their key: `mortise:aesgcm:v1:<id>:`
 * then base64 of iv (12 bytes) | tag (16 bytes) | ciphertext. Rotation: put a new line first,
 * restart (the store re-encrypts everything with it), then drop the old line.
 */
export class EncryptionKeys implements ValueCodec {
  private constructor(private readonly keys: Key[]) {}

  /** Keys for a store without a data directory (tests, ':memory:'): one random key, never written. */
  static ephemeral(): EncryptionKeys {
    return new EncryptionKeys([{ id: 'ephemeral', key: randomBytes(32) }]);
  }

  /** Reads the key file, creating it (mode 0600) with one fresh key on first start. */
  static loadOrCreate(path: string): EncryptionKeys {
    if (!existsSync(path)) {
      const id = `key-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
      writeFileSync(path, `${id} ${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    }
    // Tighten a file someone copied in with looser permissions: it is a secret.
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return new EncryptionKeys(parseKeyFile(readFileSync(path, 'utf8'), path));
  }

  get primaryKeyId(): string {
    return this.keys[0]!.id;
  }

  seal(plaintext: string): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${prefix}${id}:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
  }

  open(stored: string): string {
    if (!stored.startsWith(prefix)) return stored;
    const rest = stored.slice(prefix.length);
    const colon = rest.indexOf(':');
    const id = rest.slice(0, colon);
    const key = this.keys.find((k) => k.id === id);
    if (!key) throw new Error(`a stored value is encrypted with key "${id}", which is not in the key file`);
    const raw = Buffer.from(rest.slice(colon + 1), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  isStale(stored: string): boolean {
    return !stored.startsWith(`${prefix}${this.primaryKeyId}:`);
  }
}

function parseKeyFile(text: string, path: string): Key[] {
  const keys: Key[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const [id, b64, extra] = trimmed.split(/\s+/);
    const key = Buffer.from(b64 ?? '', 'base64');
    if (!id || !keyIdPattern.test(id) || key.length !== 32 || extra !== undefined) {
      throw new Error(`${path}:${i + 1}: expected "<id> <base64 of 32 random bytes>" (id: lowercase letters, digits, '-')`);
    }
    if (keys.some((k) => k.id === id)) throw new Error(`${path}:${i + 1}: key id "${id}" appears twice`);
    keys.push({ id, key });
  }
  if (keys.length === 0) throw new Error(`${path}: no key (one "<id> <base64 of 32 bytes>" line per key, the first encrypts)`);
  return keys;
}
