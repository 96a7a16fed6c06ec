import { EventEmitter } from 'node:events';
import type { KindDefinition } from './kind.js';

/**
 * Every kind the API serves: built-in ones registered at start, CRD-defined ones added and
 * removed at runtime. Discovery, routing and validation read from here.
 */
export class KindRegistry extends EventEmitter<{ changed: [] }> {
  private readonly byResource = new Map<string, KindDefinition>(); // group/plural
  private readonly internal = new Map<string, KindDefinition>();

  register(def: KindDefinition): void {
    this.byResource.set(key(def.group, def.plural), def);
    this.emit('changed');
  }

  /** Kinds the core stores but never serves over the API (signing keys, refresh tokens). */
  registerInternal(def: KindDefinition): void {
    this.internal.set(key(def.group, def.plural), def);
  }

  unregister(group: string, plural: string): void {
    if (this.byResource.delete(key(group, plural))) this.emit('changed');
  }

  /** By group and plural; the version must be one the kind is served at. */
  lookup(group: string, version: string, plural: string): KindDefinition | undefined {
    const def = this.byResource.get(key(group, plural));
    if (!def || !versionsOf(def).includes(version)) return undefined;
    return def;
  }

  byGroupResource(group: string, plural: string): KindDefinition | undefined {
    return this.byResource.get(key(group, plural)) ?? this.internal.get(key(group, plural));
  }

  byKind(group: string, kind: string): KindDefinition | undefined {
    for (const def of this.byResource.values()) if (def.group === group && def.kind === kind) return def;
    return undefined;
  }

  all(): KindDefinition[] {
    return [...this.byResource.values()];
  }

  /** group → versions served, for discovery. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const def of this.byResource.values()) {
      const vs = out.get(def.group) ?? [];
      for (const v of versionsOf(def)) if (!vs.includes(v)) vs.push(v);
      out.set(def.group, vs);
    }
    return out;
  }

  inGroupVersion(group: string, version: string): KindDefinition[] {
    return this.all().filter((d) => d.group === group && versionsOf(d).includes(version));
  }
}

export const versionsOf = (def: KindDefinition) => def.servedVersions ?? [def.version];
const key = (group: string, plural: string) => `${group}/${plural}`;
