import type { ManifestProblem } from '../types.js';
import { describeValue } from '../../util/describe-value.js';
import { arrayItems, isRecord } from '../../util/guards.js';
import { jsonPointer } from '../../util/json-pointer.js';

/** API groups the core serves itself; an extension may not claim them. */
export const RESERVED_API_GROUPS = ['iam.mortise.io', 'tenant.mortise.io', 'extensions.mortise.io'];

/** Each group once per extension, and none of the core's or Kubernetes' own groups. */
export function checkApiServices(manifest: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const seen = new Map<string, number>();
  arrayItems(manifest.apiServices).forEach((service, i) => {
    if (!isRecord(service) || typeof service.group !== 'string') return;
    const path = jsonPointer('apiServices', i, 'group');
    const group = service.group;
    const first = seen.get(group);
    if (first !== undefined) {
      problems.push({ path, message: `duplicates the group ${describeValue(group)} of /apiServices/${first}` });
    } else {
      seen.set(group, i);
    }
    if (RESERVED_API_GROUPS.includes(group) || group === 'k8s.io' || group.endsWith('.k8s.io')) {
      problems.push({ path, message: `${describeValue(group)} is reserved by the core or Kubernetes` });
    }
  });
  return problems;
}
