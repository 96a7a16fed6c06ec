import type { AccessCheck } from './extension-points.js';

/** A SelfSubjectRulesReview's rules, as the core answers them. */
export interface SubjectRules {
  resourceRules: Array<{ verbs: string[]; apiGroups: string[]; resources: string[]; resourceNames?: string[] }>;
  nonResourceRules: Array<{ verbs: string[]; nonResourceURLs: string[] }>;
}

const matches = (list: string[], value: string) => list.includes('*') || list.includes(value);

const pathMatches = (patterns: string[], path: string) =>
  patterns.some((p) => p === '*' || p === path || (p.endsWith('*') && path.startsWith(p.slice(0, -1))));

/** Whether `rules` allow one check (the same matching as the core's RBAC, minus resource names). */
export function allows(rules: SubjectRules, check: AccessCheck): boolean {
  if (check.path !== undefined) {
    return rules.nonResourceRules.some((r) => matches(r.verbs, check.verb) && pathMatches(r.nonResourceURLs, check.path!));
  }
  const [resource = '', subresource] = (check.resource ?? '').split('/');
  const wanted = subresource ? `${resource}/${subresource}` : resource;
  return rules.resourceRules.some(
    (r) => !r.resourceNames?.length && matches(r.verbs, check.verb) && matches(r.apiGroups, check.group ?? '') && (r.resources.includes('*') || r.resources.includes(wanted)),
  );
}

export const allowsAll = (rules: SubjectRules, checks: AccessCheck[]) => checks.every((c) => allows(rules, c));
