import type { StatusCause } from '../api/status.js';
import type { ResourceStrategy } from '../registry/kind.js';

/**
 * A Role (namespace) or WorkspaceRole (workspace) grants within its scope, and non-resource
 * URLs (`/healthz`, an extension's pages) belong to no namespace or workspace: as Kubernetes
 * refuses `nonResourceURLs` outside ClusterRoles, only a GlobalRole may hold them.
 */
export function scopedRoleStrategy(scope: 'namespaced' | 'workspace'): ResourceStrategy {
  return {
    validate(obj) {
      const rules = (obj as { rules?: unknown }).rules;
      if (!Array.isArray(rules)) return [];
      const causes: StatusCause[] = [];
      rules.forEach((rule, i) => {
        const urls = rule !== null && typeof rule === 'object' ? (rule as { nonResourceURLs?: unknown }).nonResourceURLs : undefined;
        if (Array.isArray(urls) && urls.length > 0) {
          causes.push({ field: `rules[${i}].nonResourceURLs`, message: `Invalid value: ${JSON.stringify(urls)}: ${scope} rules cannot apply to non-resource URLs (only a GlobalRole may grant them)` });
        }
      });
      return causes;
    },
  };
}
