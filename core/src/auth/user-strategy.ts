import type { ResourceStrategy } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';
import { invalid } from '../api/status.js';
import { hashPassword, isPasswordHash } from './passwords.js';
import { iamGroup } from '../schemas/iam.js';

type UserSpec = { password?: string; [k: string]: unknown };

async function hashIfPlain(obj: KubeObject): Promise<void> {
  const spec = obj.spec as UserSpec | undefined;
  if (typeof spec?.password !== 'string') return;
  if (isPasswordHash(spec.password)) return;
  if (spec.password.length < 8) {
    throw invalid(iamGroup, 'User', obj.metadata.name ?? '', [{ field: 'spec.password', message: 'Invalid value: must be at least 8 characters' }]);
  }
  spec.password = await hashPassword(spec.password);
}

/** Passwords are write-only: hashed on the way in, never shown on the way out. */
export const userStrategy: ResourceStrategy = {
  async prepareForCreate(obj) {
    await hashIfPlain(obj);
    obj.status = { state: 'Active', lastTransitionTime: new Date().toISOString() };
  },
  async prepareForUpdate(obj, old) {
    const spec = (obj.spec ??= {}) as UserSpec;
    const oldPassword = (old.spec as UserSpec | undefined)?.password;
    if (spec.password === undefined && oldPassword !== undefined) spec.password = oldPassword;
    else if (spec.password !== oldPassword) await hashIfPlain(obj);
  },
  toExternal(obj) {
    const spec = obj.spec as UserSpec | undefined;
    if (spec?.password === undefined) return obj;
    const { password: _secret, ...rest } = spec;
    return { ...obj, spec: rest };
  },
};
