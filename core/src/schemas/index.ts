import type { KindDefinition } from '../registry/kind.js';
import { extensionKinds } from './extensions.js';
import { iamKinds } from './iam.js';
import { tenantKinds } from './tenant.js';

/**
 * The core's own kinds (not Namespace or CRD, which mirror Kubernetes' built-ins). These are
 * what `core/config/crds/` emits for the kubernetes mode.
 */
export function coreKinds(strategies: { user?: KindDefinition['strategy']; workspace?: KindDefinition['strategy'] } = {}): KindDefinition[] {
  return [...iamKinds(strategies.user), ...tenantKinds(strategies.workspace), ...extensionKinds()];
}
