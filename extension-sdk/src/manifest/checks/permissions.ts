import type { ManifestProblem } from '../types.js';
import { describeValue } from '../../util/describe-value.js';
import { arrayItems, isRecord } from '../../util/guards.js';
import { jsonPointer } from '../../util/json-pointer.js';

/** Kubernetes RBAC rule rules: a rule names resources (with apiGroups) or non-resource URLs. */
export function checkPermissions(manifest: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  arrayItems(manifest.permissions).forEach((rule, i) => {
    if (!isRecord(rule)) return;
    const path = jsonPointer('permissions', i);
    const hasResources = Array.isArray(rule.resources) && rule.resources.length > 0;
    const hasUrls = Array.isArray(rule.nonResourceURLs) && rule.nonResourceURLs.length > 0;
    if (hasResources && hasUrls) {
      problems.push({ path, message: 'a rule must name either resources or nonResourceURLs, not both' });
    } else if (!hasResources && !hasUrls) {
      problems.push({ path, message: 'a rule must name resources (with apiGroups) or nonResourceURLs' });
    }
    if (hasResources && !Array.isArray(rule.apiGroups)) {
      problems.push({ path: jsonPointer('permissions', i, 'apiGroups'), message: 'is required for resource rules (use [""] for the core group)' });
    }
    if (Array.isArray(rule.resourceNames) && rule.resourceNames.length > 0 && !hasResources) {
      problems.push({ path: jsonPointer('permissions', i, 'resourceNames'), message: 'only applies to resource rules' });
    }
    arrayItems(rule.nonResourceURLs).forEach((url, j) => {
      if (typeof url === 'string' && !url.startsWith('/') && url !== '*') {
        problems.push({ path: jsonPointer('permissions', i, 'nonResourceURLs', j), message: `must start with "/", got ${describeValue(url)}` });
      }
    });
  });
  return problems;
}
