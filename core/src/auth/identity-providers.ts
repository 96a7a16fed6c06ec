import * as oidc from 'openid-client';

/** An external OpenID Connect provider users may log in through (authorization-code flow). */
export interface IdentityProviderConfig {
  /** Names the provider in URLs (`/oauth/callback/<name>`, `?idp=<name>`): a DNS label. */
  name: string;
  type: 'oidc';
  /** The provider's issuer URL (discovery at `<issuer>/.well-known/openid-configuration`). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Default `openid email profile`. */
  scopes?: string[];
  /**
   * `auto`: the first login creates a User (named from the username claim) linked to the
   * provider's subject; `lookup`: the User must already exist with the same (verified) email.
   */
  mappingMethod: 'auto' | 'lookup';
  /** Claim for the new User's name; default `preferred_username`, then the email's local part, then `sub`. */
  usernameClaim?: string;
  /** Default `email`. */
  emailClaim?: string;
  /** How the client authenticates at the provider's token endpoint; default `client_secret_basic`. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /** Allow a plain-http issuer that is not on the loopback interface (never in production). */
  allowInsecureRequests?: boolean;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks a list of providers (from options or `MORTISE_IDENTITY_PROVIDERS`), with messages naming the field. */
export function validateIdentityProviders(value: unknown, source = 'identityProviders'): IdentityProviderConfig[] {
  if (!Array.isArray(value)) throw new Error(`${source} must be a JSON array of identity providers`);
  const names = new Set<string>();
  return value.map((raw, i) => {
    const where = `${source}[${i}]`;
    if (!raw || typeof raw !== 'object') throw new Error(`${where} must be an object`);
    const p = raw as Record<string, unknown>;
    const str = (field: string, required = true) => {
      const v = p[field];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'string' || v === '') throw new Error(`${where}.${field} is required (a non-empty string)`);
      return v;
    };
    const name = str('name')!;
    if (!dnsLabel.test(name) || name.length > 63) throw new Error(`${where}.name "${name}" must be a DNS label (lowercase letters, digits and "-")`);
    if (names.has(name)) throw new Error(`${where}.name "${name}" is used twice`);
    names.add(name);
    if (p.type !== 'oidc') throw new Error(`${where}.type must be "oidc" (got ${JSON.stringify(p.type)})`);
    const issuer = str('issuer')!;
    let url: URL;
    try {
      url = new URL(issuer);
    } catch {
      throw new Error(`${where}.issuer "${issuer}" is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${where}.issuer must be an https URL`);
    if (p.mappingMethod !== 'auto' && p.mappingMethod !== 'lookup') throw new Error(`${where}.mappingMethod must be "auto" or "lookup" (got ${JSON.stringify(p.mappingMethod)})`);
    const scopes = p.scopes;
    if (scopes !== undefined && (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string'))) throw new Error(`${where}.scopes must be an array of strings`);
    const auth = p.tokenEndpointAuthMethod;
    if (auth !== undefined && auth !== 'client_secret_basic' && auth !== 'client_secret_post') {
      throw new Error(`${where}.tokenEndpointAuthMethod must be "client_secret_basic" or "client_secret_post"`);
    }
    const config: IdentityProviderConfig = {
      name, type: 'oidc', issuer, clientId: str('clientId')!, clientSecret: str('clientSecret')!, mappingMethod: p.mappingMethod,
    };
    if (scopes) config.scopes = scopes as string[];
    const usernameClaim = str('usernameClaim', false);
    if (usernameClaim) config.usernameClaim = usernameClaim;
    const emailClaim = str('emailClaim', false);
    if (emailClaim) config.emailClaim = emailClaim;
    if (auth) config.tokenEndpointAuthMethod = auth;
    if (p.allowInsecureRequests === true) config.allowInsecureRequests = true;
    if (url.protocol === 'http:' && !isLoopback(url.hostname) && !config.allowInsecureRequests) {
      throw new Error(`${where}.issuer "${issuer}" is plain http: use https (or set allowInsecureRequests for a test setup)`);
    }
    return config;
  });
}

/** `MORTISE_IDENTITY_PROVIDERS`: a JSON array of providers. */
export function parseIdentityProviders(json: string): IdentityProviderConfig[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new Error(`MORTISE_IDENTITY_PROVIDERS is not valid JSON: ${(e as Error).message}`);
  }
  return validateIdentityProviders(value, 'MORTISE_IDENTITY_PROVIDERS');
}

export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The claims of a verified external login. */
export interface ExternalIdentity {
  provider: string;
  subject: string;
  claims: Record<string, unknown>;
}

/** A configured provider, with its discovered metadata (fetched on first use, retried on failure). */
export class IdentityProvider {
  private config?: Promise<oidc.Configuration>;

  constructor(readonly settings: IdentityProviderConfig) {}

  get name(): string {
    return this.settings.name;
  }

  get scopes(): string[] {
    return this.settings.scopes ?? ['openid', 'email', 'profile'];
  }

  discover(): Promise<oidc.Configuration> {
    if (!this.config) {
      const s = this.settings;
      const insecure = s.allowInsecureRequests || new URL(s.issuer).protocol === 'http:';
      const auth = s.tokenEndpointAuthMethod === 'client_secret_post' ? oidc.ClientSecretPost(s.clientSecret) : oidc.ClientSecretBasic(s.clientSecret);
      this.config = oidc.discovery(new URL(s.issuer), s.clientId, { client_secret: s.clientSecret }, auth, {
        timeout: 10,
        execute: insecure ? [oidc.allowInsecureRequests] : [],
      }).then((config) => {
        // Check the ID token's signature too, not only its claims (the default trusts TLS).
        oidc.enableNonRepudiationChecks(config);
        return config;
      });
      this.config.catch(() => {
        this.config = undefined;
      });
    }
    return this.config;
  }

  /** Where to send the browser: the provider's authorization endpoint with our state, nonce and PKCE. */
  async authorizationUrl(callbackUrl: string, state: string, nonce: string, codeVerifier: string): Promise<URL> {
    const config = await this.discover();
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl,
      scope: this.scopes.join(' '),
      response_type: 'code',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
  }

  /**
   * The provider's answer at our callback: exchanges the code, verifies the ID token (signature,
   * issuer, audience, expiry, nonce) and completes the claims from userinfo when the ID token
   * carries only the subject.
   */
  async complete(callbackUrl: string, query: string, state: string, nonce: string, codeVerifier: string): Promise<ExternalIdentity> {
    const config = await this.discover();
    const current = new URL(callbackUrl);
    current.search = query;
    const tokens = await oidc.authorizationCodeGrant(config, current, { expectedState: state, expectedNonce: nonce, pkceCodeVerifier: codeVerifier, idTokenExpected: true });
    const idClaims = tokens.claims();
    if (!idClaims?.sub) throw new Error('the provider returned no ID token subject');
    let claims: Record<string, unknown> = { ...idClaims };
    const wanted = [this.settings.usernameClaim ?? 'preferred_username', this.settings.emailClaim ?? 'email'];
    if (wanted.some((c) => claims[c] === undefined) && config.serverMetadata().userinfo_endpoint && tokens.access_token) {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
      claims = { ...info, ...claims };
    }
    return { provider: this.name, subject: idClaims.sub, claims };
  }
}
