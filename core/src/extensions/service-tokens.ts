import type { TokenService } from '../auth/token-service.js';
import { extensionServiceAccount } from '@mortise/extension-sdk/runtime';

/** Each extension's service-account token, reused while valid so the backend's spec stays the same. */
export class ServiceTokens {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(private readonly service: TokenService) {}

  async get(extension: string): Promise<string> {
    const cached = this.tokens.get(extension);
    if (cached && cached.expiresAt - Date.now() > 24 * 3600_000) return cached.token;
    const ttl = 30 * 24 * 3600;
    const token = await this.service.sign({ sub: extensionServiceAccount(extension), token_use: 'access' }, 'mortise-extension', ttl);
    this.tokens.set(extension, { token, expiresAt: Date.now() + ttl * 1000 });
    return token;
  }
}
