import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import { readObjectBody } from '../api/body.js';
import { isPlainObject, ownValue } from '../api/own-properties.js';
import { badRequest, notFound } from '../api/status.js';
import type { AppContext, AppState, UserInfo } from '../http/app-state.js';
import { iamGroup } from '../schemas/iam.js';
import type { KubeObject, ResourceRef, ResourceStore } from '../store/resource-store.js';
import { internalGroup } from './internal-kinds.js';

/**
 * Long-lived, revocable tokens for namespaced service accounts (`iam.mortise.io` ServiceAccount),
 * for machines that cannot log in: log shippers, CI jobs, scripts. A token is opaque
 * (`mst_<id>_<secret>`); the core keeps only the secret's sha256 under the token's id, so a
 * revoked (deleted) token or a deleted service account stops working at once. The account is a
 * subject like any user — `system:serviceaccount:<namespace>:<name>`, in the groups
 * `system:serviceaccounts` and `system:serviceaccounts:<namespace>` — and holds what RBAC grants it.
 */
export const serviceAccountTokensRef: ResourceRef = { group: internalGroup, resource: 'serviceaccounttokens' };
export const serviceAccountsRef: ResourceRef = { group: iamGroup, resource: 'serviceaccounts' };
export const serviceAccountTokenPrefix = 'mst_';
const TOKEN = /^mst_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const MAX_TOKENS_PER_ACCOUNT = 100;

interface TokenRecord {
  namespace: string;
  serviceAccount: string;
  /** The account's uid when the token was issued: a re-created namesake does not inherit it. */
  serviceAccountUid: string;
  secretSha256: string;
  description?: string;
  createdAt: string;
  /** RFC 3339, or absent for a token that lives until revoked. */
  expiresAt?: string;
}

export const serviceAccountUsername = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`;

/** `system:serviceaccount:<ns>:<name>` → its namespace and name, or undefined for any other username. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class ServiceAccountTokens {
  constructor(private readonly store: ResourceStore) {}

  isServiceAccountToken(bearer: string): boolean {
    return bearer.startsWith(serviceAccountTokenPrefix);
  }

  /** The subject a token stands for, or a reason it is refused. */
  async authenticate(bearer: string): Promise<UserInfo | { refused: string }> {
    const m = TOKEN.exec(bearer);
    if (!m) return { refused: 'the service account token is malformed' };
    const [, id, secret] = m;
    // Stored cluster-wide under the token's id (the record names the namespace): one lookup.
    const stored = await this.store.get({ ...serviceAccountTokensRef, namespace: '', name: id! });
    const record = stored?.data as TokenRecord | undefined;
    const presented = Buffer.from(sha256(secret!), 'hex');
    if (!stored || !record || !timingSafeEqual(presented, Buffer.from(record.secretSha256, 'hex'))) {
      return { refused: 'the service account token is not valid (unknown or revoked)' };
    }
    if (record.expiresAt && Date.parse(record.expiresAt) <= Date.now()) return { refused: 'the service account token has expired' };
    const namespace = record.namespace;
    const account = await this.store.get({ ...serviceAccountsRef, namespace, name: record.serviceAccount });
    if (!account || account.metadata.uid !== record.serviceAccountUid || account.metadata.deletionTimestamp) {
      return { refused: `the service account "${namespace}/${record.serviceAccount}" no longer exists` };
    }
    return {
      username: serviceAccountUsername(namespace, record.serviceAccount), uid: account.metadata.uid,
      groups: ['system:authenticated', 'system:serviceaccounts', `system:serviceaccounts:${namespace}`], via: 'token',
      ...(record.expiresAt ? { expiresAt: Date.parse(record.expiresAt) } : {}),
    };
  }

  async issue(namespace: string, name: string, opts: { description?: string; expirationSeconds?: number }): Promise<{ object: KubeObject; token: string }> {
    const account = await this.store.get({ ...serviceAccountsRef, namespace, name });
    if (!account) throw notFound(iamGroup, 'serviceaccounts', name);
    const existing = await this.tokensOf(namespace, name);
    if (existing.length >= MAX_TOKENS_PER_ACCOUNT) throw badRequest(`the service account "${name}" already has ${MAX_TOKENS_PER_ACCOUNT} tokens: revoke some first`);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: TokenRecord = {
      namespace, serviceAccount: name, serviceAccountUid: account.metadata.uid!, secretSha256: sha256(secret), createdAt: new Date().toISOString(),
      ...(opts.description ? { description: opts.description } : {}),
      ...(opts.expirationSeconds ? { expiresAt: new Date(Date.now() + opts.expirationSeconds * 1000).toISOString() } : {}),
    };
    const stored = await this.store.create(serviceAccountTokensRef, { metadata: { name: id }, data: record });
    return { object: this.view(stored), token: `${serviceAccountTokenPrefix}${id}_${secret}` };
  }

  async tokensOf(namespace: string, name: string): Promise<KubeObject[]> {
    const { items } = await this.store.list(serviceAccountTokensRef);
    return items.filter((i) => (i.data as TokenRecord).namespace === namespace && (i.data as TokenRecord).serviceAccount === name);
  }

  async revoke(namespace: string, name: string, id: string): Promise<KubeObject> {
    const stored = /^[0-9a-f]{16}$/.test(id) ? await this.store.get({ ...serviceAccountTokensRef, namespace: '', name: id }) : undefined;
    const r = stored?.data as TokenRecord | undefined;
    if (!stored || r?.namespace !== namespace || r.serviceAccount !== name) throw notFound(iamGroup, 'serviceaccounts/tokens', id);
    await this.store.delete({ ...serviceAccountTokensRef, namespace: '', name: id });
    return this.view(stored);
  }

  /** The API form of a token: everything but the secret (which is shown once, when issued). */
  view(stored: KubeObject): KubeObject {
    const r = stored.data as TokenRecord;
    return {
      apiVersion: `${iamGroup}/v1alpha1`, kind: 'ServiceAccountToken',
      metadata: { name: stored.metadata.name, namespace: r.namespace, creationTimestamp: r.createdAt },
      spec: { serviceAccountName: r.serviceAccount, ...(r.description ? { description: r.description } : {}), ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}) },
    };
  }
}

/**
 * `…/namespaces/{ns}/serviceaccounts/{name}/tokens`: POST issues a token (201, the secret in
 * `status.token`, shown only this once), GET lists them without secrets, DELETE `…/tokens/{id}`
 * revokes one. Authorized like any subresource: `serviceaccounts/tokens` with create, list/get, delete.
 */
export function serviceAccountTokenRouter(tokens: ServiceAccountTokens): Router<AppState> {
  const router = new Router<AppState>();
  const base = `/apis/${iamGroup}/v1alpha1/namespaces/:ns/serviceaccounts/:name/tokens`;

  router.post(base, async (ctx: AppContext) => {
    const body = await readObjectBody(ctx.req);
    const spec = ownValue(body, 'spec') ?? {};
    if (!isPlainObject(spec)) throw badRequest('spec must be an object');
    const description = ownValue(spec, 'description');
    const expirationSeconds = ownValue(spec, 'expirationSeconds');
    if (description !== undefined && (typeof description !== 'string' || description.length > 256)) throw badRequest('spec.description must be a string of at most 256 characters');
    if (expirationSeconds !== undefined && (!Number.isInteger(expirationSeconds) || (expirationSeconds as number) < 600 || (expirationSeconds as number) > 10 * 365 * 86400)) {
      throw badRequest('spec.expirationSeconds must be an integer from 600 to 315360000 (absent: until revoked)');
    }
    const { object, token } = await tokens.issue(ctx.params.ns!, ctx.params.name!, { description: description as string | undefined, expirationSeconds: expirationSeconds as number | undefined });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...object, status: { token } };
  });

  router.get(base, async (ctx: AppContext) => {
    const items = await tokens.tokensOf(ctx.params.ns!, ctx.params.name!);
    ctx.body = { apiVersion: `${iamGroup}/v1alpha1`, kind: 'ServiceAccountTokenList', metadata: {}, items: items.map((i) => tokens.view(i)) };
  });

  router.delete(`${base}/:id`, async (ctx: AppContext) => {
    ctx.body = await tokens.revoke(ctx.params.ns!, ctx.params.name!, ctx.params.id!);
  });
  return router;
}
