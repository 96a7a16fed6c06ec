import type { ResourceStrategy } from '../registry/kind.js';

/** A workspace created without a manager is managed by whoever created it. */
export const workspaceStrategy: ResourceStrategy = {
  prepareForCreate(obj, ctx) {
    const spec = (obj.spec ??= {}) as { manager?: string };
    if (!spec.manager && ctx.user) spec.manager = ctx.user.username;
  },
};
