import type { RequestInfo } from '../api/request-info.js';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

const has = (list: string[] | undefined, value: string) => !!list && (list.includes('*') || list.includes(value));

/** Whether one rule allows a request, with Kubernetes RBAC's matching rules. */
export function ruleAllows(rule: PolicyRule, r: RequestInfo): boolean {
  if (!has(rule.verbs, r.verb)) return false;
  if (!r.isResourceRequest) {
    return !!rule.nonResourceURLs?.some((u) => u === '*' || u === r.path || (u.endsWith('*') && r.path.startsWith(u.slice(0, -1))));
  }
  if (rule.nonResourceURLs?.length && !rule.resources?.length) return false;
  if (!has(rule.apiGroups, r.apiGroup)) return false;
  const combined = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
  const resources = rule.resources ?? [];
  const resourceOk = resources.includes('*') || resources.includes(combined) || (r.subresource !== '' && resources.includes(`*/${r.subresource}`));
  if (!resourceOk) return false;
  if (rule.resourceNames?.length) return r.name !== '' && rule.resourceNames.includes(r.name);
  return true;
}

/**
 * Whether `owner` rules grant everything `servant` rules do (the escalation check): every
 * servant rule, broken into single verb/group/resource/name pieces, is allowed by some owner
 * rule; a servant wildcard is covered only by an owner wildcard.
 */
export function covers(owner: PolicyRule[], servant: PolicyRule[]): { ok: boolean; missing: PolicyRule[] } {
  const missing: PolicyRule[] = [];
  for (const rule of servant) {
    for (const piece of breakdown(rule)) {
      if (!owner.some((o) => pieceCovered(o, piece))) missing.push(piece);
    }
  }
  return { ok: missing.length === 0, missing };
}

function breakdown(rule: PolicyRule): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const verb of rule.verbs) {
    for (const url of rule.nonResourceURLs ?? []) out.push({ verbs: [verb], nonResourceURLs: [url] });
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        if (rule.resourceNames?.length) for (const name of rule.resourceNames) out.push({ verbs: [verb], apiGroups: [group], resources: [resource], resourceNames: [name] });
        else out.push({ verbs: [verb], apiGroups: [group], resources: [resource] });
      }
    }
  }
  return out;
}

function pieceCovered(o: PolicyRule, p: PolicyRule): boolean {
  const verb = p.verbs[0]!;
  if (!(o.verbs.includes('*') || o.verbs.includes(verb))) return false;
  if (p.nonResourceURLs) {
    const url = p.nonResourceURLs[0]!;
    return !!o.nonResourceURLs?.some((u) => u === '*' || u === url || (u.endsWith('*') && url.startsWith(u.slice(0, -1)) && !(url.endsWith('*') && url.length < u.length)));
  }
  const group = p.apiGroups![0]!;
  const resource = p.resources![0]!;
  if (!(o.apiGroups?.includes('*') || o.apiGroups?.includes(group))) return false;
  const sub = resource.includes('/') ? resource.split('/')[1] : undefined;
  if (!(o.resources?.includes('*') || o.resources?.includes(resource) || (sub && o.resources?.includes(`*/${sub}`)))) return false;
  if (o.resourceNames?.length) return !!p.resourceNames?.length && o.resourceNames.includes(p.resourceNames[0]!);
  return true;
}
