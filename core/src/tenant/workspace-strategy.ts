import type { ResourceStrategy } from '../registry/kind.js';
import type { StatusCause } from '../api/status.js';
import { isPlainObject } from '../api/own-properties.js';
import { validateDns1123Subdomain, validateLabelValue } from '../registry/names.js';

/** The name of the binding that makes the manager an admin of the workspace (see the controller). */
export const managerBindingName = (workspace: string, manager: string) => `${workspace}-${manager}-admin`;

/**
 * A workspace created without a manager is managed by whoever created it. Admission refuses
 * what the controller could never reconcile: the name is the value of the workspace label on
 * everything in it, and names the built-in roles; the manager names a User and a binding.
 */
export const workspaceStrategy: ResourceStrategy = {
  prepareForCreate(obj, ctx) {
    // A spec of the wrong type is reported by validation, not overwritten here.
    if (obj.spec === undefined || obj.spec === null) obj.spec = {};
    if (!isPlainObject(obj.spec)) return;
    const spec = obj.spec as { manager?: unknown };
    if (!spec.manager && ctx.user) spec.manager = ctx.user.username;
  },
  validate(obj) {
    const name = obj.metadata.name ?? '';
    const causes: StatusCause[] = [];
    for (const e of validateLabelValue(name)) causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": it is the value of the tenant.mortise.io/workspace label on the workspace's namespaces and roles: ${e}` });
    const manager = isPlainObject(obj.spec) ? obj.spec.manager : undefined;
    if (typeof manager === 'string' && manager !== '') {
      const errs = validateDns1123Subdomain(manager);
      for (const e of errs) causes.push({ reason: 'FieldValueInvalid', field: 'spec.manager', message: `Invalid value: "${manager}": not a user name: ${e}` });
      if (!errs.length) {
        for (const e of validateDns1123Subdomain(managerBindingName(name, manager))) {
          causes.push({ reason: 'FieldValueInvalid', field: 'spec.manager', message: `Invalid value: "${manager}": the manager's binding ${managerBindingName(name, manager)} could not be created: ${e}` });
        }
      }
    }
    return causes;
  },
};
