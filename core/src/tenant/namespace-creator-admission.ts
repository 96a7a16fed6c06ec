import { invalid } from '../api/status.js';
import type { AdmissionPlugin } from '../registry/resource-service.js';
import { creatorAnnotation } from './namespace-roles-controller.js';

/**
 * The creator annotation makes the namespace-roles controller bind that user to the namespace's
 * admin Role, at creation and again at every resync and start, past the escalation rule. So it
 * is the server's: a user's create may name only the caller (the workspace API sets it so), and
 * no user's update may add it or change it; removing it (no more re-grant) is allowed. Without
 * this a namespace operator, who may patch the Namespace, made themselves its admin.
 * Controllers of the core (no user) are trusted.
 */
export function namespaceCreatorAdmission(): AdmissionPlugin {
  return async ({ operation, def, object, old, ctx }) => {
    const user = ctx.user;
    if (!user || def.group !== '' || def.plural !== 'namespaces') return;
    const value = object.metadata.annotations?.[creatorAnnotation];
    if (value === undefined) return;
    const field = `metadata.annotations[${creatorAnnotation}]`;
    const name = object.metadata.name ?? '';
    if (operation === 'CREATE') {
      if (value === user.username) return;
      throw invalid('', 'Namespace', name, [{ reason: 'FieldValueForbidden', field, message: `Forbidden: names the user who creates the namespace ("${user.username}"), not ${JSON.stringify(value)}: it makes that user the namespace's admin` }]);
    }
    if (value === old?.metadata.annotations?.[creatorAnnotation]) return;
    throw invalid('', 'Namespace', name, [{ reason: 'FieldValueForbidden', field, message: `Forbidden: set when the namespace is created (it makes that user the namespace's admin); it may be removed, not added or changed` }]);
  };
}
