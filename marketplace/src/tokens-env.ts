import type { PublishToken } from './options.js';

/**
 * Publish tokens from an environment variable: either a JSON array of
 * `{"token": "...", "publisher": "..."}` or a comma-separated list of tokens that may
 * publish anything.
 */
export function parseTokens(value: string | undefined): PublishToken[] {
  const text = value?.trim() ?? '';
  if (text === '') return [];
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`MARKETPLACE_TOKENS is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new Error('MARKETPLACE_TOKENS must be a JSON array');
    return parsed.map((item, i) => {
      const token = (item as { token?: unknown })?.token;
      const publisher = (item as { publisher?: unknown })?.publisher;
      if (typeof token !== 'string' || token.length < 8) throw new Error(`MARKETPLACE_TOKENS[${i}].token must be a string of at least 8 characters`);
      if (publisher !== undefined && typeof publisher !== 'string') throw new Error(`MARKETPLACE_TOKENS[${i}].publisher must be a string`);
      return publisher === undefined ? { token } : { token, publisher };
    });
  }
  return text.split(',').map((token, i) => {
    const trimmed = token.trim();
    if (trimmed.length < 8) throw new Error(`token #${i + 1} in MARKETPLACE_TOKENS is shorter than 8 characters`);
    return { token: trimmed };
  });
}
