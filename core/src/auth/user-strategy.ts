import type { ResourceStrategy } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';
import { invalid } from '../api/status.js';
import { isPlainObject } from '../api/own-properties.js';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.js';
import { iamGroup } from '../schemas/iam.js';

type UserSpec = { password?: string; [k: string]: unknown };

async function hashIfPlain(obj: KubeObject): Promise<void> {
  const spec = isPlainObject(obj.spec) ? obj.spec as UserSpec : undefined;
  if (typeof spec?.password !== 'string') return;
  if (isPasswordHash(spec.password)) return;
  if (spec.password.length < 8) {
    throw invalid(iamGroup, 'User', obj.metadata.name ?? '', [{ field: 'spec.password', message: 'Invalid value: must be at least 8 characters' }]);
  }
  spec.password = await hashPassword(spec.password);
}

const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * `kubectl apply` copies the whole manifest, plaintext password included, into an annotation
 * that every read returns: the password is taken out of it. (kubectl then sends the password
 * on every apply; an unchanged one keeps its hash, see prepareForUpdate.)
 */
function withoutPasswordInLastApplied<T extends KubeObject>(obj: T): T {
  const text = obj.metadata.annotations?.[lastApplied];
  if (!text || !text.includes('password')) return obj;
  let applied: { spec?: UserSpec } | undefined;
  try {
    applied = JSON.parse(text) as { spec?: UserSpec };
  } catch {
    applied = undefined;
  }
  const scrubbed = applied?.spec && typeof applied.spec === 'object' && 'password' in applied.spec
    ? JSON.stringify({ ...applied, spec: Object.fromEntries(Object.entries(applied.spec).filter(([k]) => k !== 'password')) })
    : applied ? undefined : '{}';
  if (scrubbed === undefined) return obj;
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata.annotations, [lastApplied]: scrubbed } } };
}

/** Passwords are write-only: hashed on the way in, never shown on the way out. */
export const userStrategy: ResourceStrategy = {
  async prepareForCreate(obj) {
    await hashIfPlain(obj);
    obj.metadata = withoutPasswordInLastApplied(obj).metadata;
    obj.status = { state: 'Active', lastTransitionTime: new Date().toISOString() };
  },
  async prepareForUpdate(obj, old) {
    if (obj.spec === undefined || obj.spec === null) obj.spec = {};
    // A spec of the wrong type is reported by validation, not written into here.
    if (!isPlainObject(obj.spec)) return;
    const spec = obj.spec as UserSpec;
    const oldPassword = (old.spec as UserSpec | undefined)?.password;
    obj.metadata = withoutPasswordInLastApplied(obj).metadata;
    if (spec.password === undefined && oldPassword !== undefined) spec.password = oldPassword;
    else if (typeof spec.password === 'string' && oldPassword && !isPasswordHash(spec.password) && (await verifyPassword(spec.password, oldPassword))) spec.password = oldPassword;
    else if (spec.password !== oldPassword) await hashIfPlain(obj);
  },
  toExternal(obj) {
    const spec = obj.spec as UserSpec | undefined;
    const out = withoutPasswordInManagedFields(withoutPasswordInLastApplied(obj));
    if (spec?.password === undefined) return out;
    const { password: _secret, ...rest } = spec;
    return { ...out, spec: rest };
  },
};

type FieldsV1 = Record<string, unknown>;

/**
 * managedFields name the password field of whoever set it (`f:spec` → `f:password`): a field no
 * read shows is left out of them too, as the password itself is.
 */
function withoutPasswordInManagedFields(obj: KubeObject): KubeObject {
  const entries = obj.metadata.managedFields as Array<{ fieldsV1?: FieldsV1 }> | undefined;
  if (!entries?.some((e) => (e.fieldsV1?.['f:spec'] as FieldsV1 | undefined)?.['f:password'] !== undefined)) return obj;
  const managedFields = entries.map((e) => {
    const spec = e.fieldsV1?.['f:spec'] as FieldsV1 | undefined;
    if (!spec || spec['f:password'] === undefined) return e;
    const { 'f:password': _owned, ...restOfSpec } = spec;
    const { 'f:spec': _spec, ...rest } = e.fieldsV1!;
    return { ...e, fieldsV1: Object.keys(restOfSpec).length ? { ...rest, 'f:spec': restOfSpec } : rest };
  });
  return { ...obj, metadata: { ...obj.metadata, managedFields } };
}
