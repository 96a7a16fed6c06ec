import type { ApiClient } from '@mortise/extension-sdk/console';

/** One listable kind, as discovery describes it. */
export interface DiscoveredKind {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

interface ResourceList {
  groupVersion: string;
  resources: Array<{ name: string; kind: string; namespaced: boolean; verbs: string[] }>;
}

/** Every kind the core serves (its own, and the CRDs extensions brought), from /api and /apis. */
export async function discoverKinds(api: ApiClient): Promise<DiscoveredKind[]> {
  const groups = await api.request<{ groups: Array<{ name: string; preferredVersion: { version: string } }> }>('/apis');
  const lists = await Promise.all([
    api.request<ResourceList>('/api/v1').then((l) => ({ group: '', version: 'v1', l })),
    ...groups.groups.map((g) => api.request<ResourceList>(`/apis/${g.name}/${g.preferredVersion.version}`).then((l) => ({ group: g.name, version: g.preferredVersion.version, l }))),
  ].map((p) => p.catch(() => undefined)));
  return lists
    .flatMap((x) => (x ? x.l.resources.filter((r) => !r.name.includes('/') && r.verbs.includes('list')).map((r) => ({ group: x.group, version: x.version, resource: r.name, kind: r.kind, namespaced: r.namespaced, verbs: r.verbs })) : []))
    .sort((a, b) => a.group.localeCompare(b.group) || a.kind.localeCompare(b.kind));
}

/** "core" stands for the core group ("") in the console's URLs. */
export const groupSegment = (group: string) => group || 'core';
export const groupOf = (segment: string) => (segment === 'core' ? '' : segment);
