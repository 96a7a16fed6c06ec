import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

// A real OpenID Connect provider (panva's oidc-provider) inside the test process, with login and
// consent answered programmatically: the account that logs in is the `x-test-account` header of
// the browser that reaches the interaction (or "deny" to refuse).

export interface TestAccount {
  preferred_username?: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, TestAccount>;
  /** Registers our client, now that the core's callback URLs are known. */
  configure(redirectUris: string[]): Promise<void>;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface InteractionDetails {
  prompt: { name: string };
  params: { client_id: string; scope?: string };
  session?: { accountId?: string };
  grantId?: string;
}

interface ProviderLike {
  callback(): Handler;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionResult(req: IncomingMessage, res: ServerResponse, result: unknown, opts?: { mergeWithLastSubmission?: boolean }): Promise<string>;
  Grant: {
    new (init: { accountId: string; clientId: string }): { addOIDCScope(scope: string): void; save(): Promise<string> };
    find(id: string): Promise<{ addOIDCScope(scope: string): void; save(): Promise<string> } | undefined>;
  };
}

export async function startOidcProvider(): Promise<TestOidcProvider> {
  let handler: Handler = (_req, res) => {
    res.statusCode = 503;
    res.end('not configured yet');
  };
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accounts = new Map<string, TestAccount>();
  const clientId = 'mortise';
  const clientSecret = 'mortise-client-secret-for-tests';

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-provider-key', alg: 'RS256', use: 'sig' };

  return {
    issuer, clientId, clientSecret, accounts,
    async configure(redirectUris) {
      const provider = new (Provider as unknown as new (issuer: string, config: unknown) => ProviderLike)(issuer, {
        clients: [{
          client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris,
          grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
        }],
        jwks: { keys: [signingKey] },
        cookies: { keys: ['oidc-provider-cookie-key-for-tests'] },
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username', 'name'] },
        features: { devInteractions: { enabled: false } },
        interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
        pkce: { methods: ['S256'], required: () => true },
        ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
        async findAccount(_ctx: unknown, id: string) {
          const account = accounts.get(id);
          if (!account) return undefined;
          return { accountId: id, claims: async () => ({ sub: id, ...account }) };
        },
      });
      const providerCallback = provider.callback();
      handler = (req, res) => {
        if (req.url?.startsWith('/interaction/')) {
          interact(provider, req, res).catch((e: Error) => {
            res.statusCode = 500;
            res.end(`interaction failed: ${e.message}`);
          });
          return;
        }
        providerCallback(req, res);
      };
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Login and consent without a page: the account comes from the browser's `x-test-account` header. */
async function interact(provider: ProviderLike, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const account = String(req.headers['x-test-account'] ?? '');
  let result: unknown;
  if (account === 'deny') {
    result = { error: 'access_denied', error_description: 'the test user declined' };
  } else if (details.prompt.name === 'login') {
    result = { login: { accountId: account } };
  } else {
    const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined)
      ?? new provider.Grant({ accountId: details.session!.accountId!, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope ?? 'openid');
    result = { consent: { grantId: await grant.save() } };
  }
  const location = await provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
  res.statusCode = 303;
  res.setHeader('location', location);
  res.end();
}

/**
 * A browser without a window: follows redirects by hand and keeps cookies per host (as browsers
 * do, not per port), with path matching and expiry.
 */
export class TestBrowser {
  private cookies = new Map<string, { host: string; name: string; value: string; path: string; expires?: number }>();

  constructor(private readonly headers: Record<string, string> = {}) {}

  async get(url: string | URL): Promise<Response> {
    const u = new URL(url);
    const cookie = [...this.cookies.values()]
      .filter((c) => c.host === u.hostname && pathMatches(u.pathname, c.path) && (c.expires === undefined || c.expires > Date.now()))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const res = await fetch(u, { redirect: 'manual', headers: { ...this.headers, ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers.getSetCookie()) this.store(u, line);
    return res;
  }

  /** Follows redirects until one points at `stop` (returned, not requested), or a response is not a redirect. */
  async follow(url: string | URL, stop: (u: URL) => boolean, max = 25): Promise<{ stoppedAt?: URL; response?: Response; visited: string[] }> {
    let current = new URL(url);
    const visited: string[] = [];
    for (let i = 0; i < max; i++) {
      if (stop(current)) return { stoppedAt: current, visited };
      visited.push(current.href);
      const res = await this.get(current);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { response: res, visited };
      await res.arrayBuffer();
      current = new URL(location, current);
    }
    throw new Error(`too many redirects: ${visited.join(' -> ')}`);
  }

  private store(u: URL, line: string): void {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq);
    const value = pair!.slice(eq + 1);
    let path = u.pathname.replace(/\/[^/]*$/, '') || '/';
    let expires: number | undefined;
    for (const attr of attrs) {
      const [k, v = ''] = attr.split('=');
      const key = k!.toLowerCase();
      if (key === 'path') path = v;
      if (key === 'max-age') expires = Date.now() + Number(v) * 1000;
      if (key === 'expires' && expires === undefined) expires = Date.parse(v);
    }
    const id = `${u.hostname}|${path}|${name}`;
    if (expires !== undefined && expires <= Date.now()) this.cookies.delete(id);
    else this.cookies.set(id, { host: u.hostname, name, value, path, expires });
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
