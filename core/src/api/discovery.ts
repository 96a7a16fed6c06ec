import type { KindDefinition } from '../registry/kind.js';
import { versionsOf, type KindRegistry } from '../registry/kind-registry.js';

// Legacy discovery documents (what kubectl reads to map kinds to URLs).

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function apiResources(defs: KindDefinition[]) {
  const out: object[] = [];
  for (const d of defs) {
    out.push({
      name: d.plural, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: d.verbs ?? allVerbs,
      ...(d.shortNames?.length ? { shortNames: d.shortNames } : {}),
      ...(d.categories?.length ? { categories: d.categories } : {}),
    });
    if (d.subresources.status) {
      out.push({ name: `${d.plural}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
    }
    if (d.group === '' && d.plural === 'namespaces') {
      out.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
    }
  }
  return out;
}

export function apiVersions(serverAddress: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function resourceList(registry: KindRegistry, group: string, version: string) {
  const defs = registry.inGroupVersion(group, version);
  if (defs.length === 0) return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: apiResources(defs) };
}

function apiGroup(registry: KindRegistry, name: string) {
  const versions = registry.groups().get(name);
  if (!versions) return undefined;
  // The preferred version is the storage version of the group's first kind.
  const preferred = registry.all().find((d) => d.group === name)!.version;
  const sorted = [preferred, ...versions.filter((v) => v !== preferred)];
  return {
    name,
    versions: sorted.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${name}/${preferred}`, version: preferred },
  };
}

export function apiGroupDocument(registry: KindRegistry, name: string) {
  const g = apiGroup(registry, name);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...g } : undefined;
}

export function apiGroupList(registry: KindRegistry, extraGroups: Array<{ name: string; versions: string[] }> = []) {
  const names = [...registry.groups().keys()].filter((g) => g !== '').sort();
  const groups = names.map((n) => apiGroup(registry, n)!);
  for (const extra of extraGroups) {
    if (names.includes(extra.name)) continue;
    groups.push({
      name: extra.name,
      versions: extra.versions.map((v) => ({ groupVersion: `${extra.name}/${v}`, version: v })),
      preferredVersion: { groupVersion: `${extra.name}/${extra.versions[0]}`, version: extra.versions[0]! },
    });
  }
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export { versionsOf };
