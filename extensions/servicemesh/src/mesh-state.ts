import { compileRouting, type ServiceRouting } from './routing.js';
import { serviceTag } from './tracing.js';
import type { CircuitBreaker, GrayRelease, MeshKind, MeshService, TrafficRule } from './types.js';

// The rules of every namespace as the watches deliver them, and the compiled routing per service.
// A change recompiles only the service it touches; a rule that cannot run (stored before the
// extension's admission existed, or a version removed from its service later) leaves the
// service's last good routing in force, and says why in `problems`.

type AnyMesh = MeshService | TrafficRule | CircuitBreaker | GrayRelease;
/** A change to the rules, as plain data (sent to data-plane workers). */
export type MeshChange = { op: 'apply'; kind: MeshKind; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: AnyMesh } | { op: 'reset'; kind: MeshKind; items: AnyMesh[] };
const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class MeshState {
  readonly services = new Map<string, MeshService>();
  readonly rules = new Map<string, TrafficRule>();
  readonly breakers = new Map<string, CircuitBreaker>();
  readonly releases = new Map<string, GrayRelease>();
  /** `${service}.${namespace}` → routing in force. */
  private readonly routing = new Map<string, ServiceRouting>();
  /** `${namespace}/${service}` → why the latest rules are not in force. */
  readonly problems = new Map<string, string>();
  /** A span id's service tag → the MeshService it names (the caller of a hop, from its parent-id). */
  private readonly tags = new Map<string, { service: string; namespace: string }>();
  private generation = 0;
  /** Told of every change as it was given (the backend passes them on to data-plane workers). */
  private readonly listeners: Array<(change: MeshChange) => void> = [];

  constructor(private readonly log: (msg: string) => void = () => {}) {}

  onChange(listener: (change: MeshChange) => void): void {
    this.listeners.push(listener);
  }

  /** Every object, as the changes that would rebuild this state elsewhere. */
  dump(): MeshChange[] {
    return (['MeshService', 'TrafficRule', 'CircuitBreaker', 'GrayRelease'] as MeshKind[]).map((kind) => ({ op: 'reset', kind, items: [...this.mapOf(kind).values()] }));
  }

  /** Applies a change made by `apply`/`reset` in another process. */
  replay(change: MeshChange): void {
    if (change.op === 'reset') this.reset(change.kind, change.items);
    else this.apply(change.kind, change.type, change.object);
  }

  /** The service whose spans carry this tag. */
  serviceOfTag(tag: string): { service: string; namespace: string } | undefined {
    return this.tags.get(tag);
  }

  private mapOf(kind: MeshKind): Map<string, AnyMesh> {
    return ({ MeshService: this.services, TrafficRule: this.rules, CircuitBreaker: this.breakers, GrayRelease: this.releases } as Record<MeshKind, Map<string, AnyMesh>>)[kind];
  }

  /** The service an object of `kind` is about. */
  private static serviceOf(kind: MeshKind, o: AnyMesh): string {
    return kind === 'MeshService' ? o.metadata.name : (o.spec as { service: string }).service;
  }

  apply(kind: MeshKind, type: 'ADDED' | 'MODIFIED' | 'DELETED', o: AnyMesh): void {
    const map = this.mapOf(kind);
    const k = key(o.metadata.namespace, o.metadata.name);
    const before = map.get(k);
    if (type === 'DELETED') map.delete(k);
    else map.set(k, o);
    const touched = new Set([MeshState.serviceOf(kind, o), ...(before ? [MeshState.serviceOf(kind, before)] : [])]);
    for (const s of touched) this.recompile(o.metadata.namespace, s);
    for (const l of this.listeners) l({ op: 'apply', kind, type, object: o });
  }

  /** Replaces every object of a kind (after a list). */
  reset(kind: MeshKind, items: AnyMesh[]): void {
    const map = this.mapOf(kind);
    const touched = new Set<string>();
    for (const o of map.values()) touched.add(key(o.metadata.namespace, MeshState.serviceOf(kind, o)));
    map.clear();
    for (const o of items) {
      map.set(key(o.metadata.namespace, o.metadata.name), o);
      touched.add(key(o.metadata.namespace, MeshState.serviceOf(kind, o)));
    }
    for (const t of touched) {
      const [ns, svc] = t.split('/') as [string, string];
      this.recompile(ns, svc);
    }
    for (const l of this.listeners) l({ op: 'reset', kind, items });
  }

  lookup(service: string, namespace: string): ServiceRouting | undefined {
    return this.routing.get(`${service}.${namespace}`);
  }

  /** Every routing in force. */
  all(): ServiceRouting[] {
    return [...this.routing.values()];
  }

  /** Every routing in force in a namespace. */
  inNamespace(namespace: string): ServiceRouting[] {
    return [...this.routing.values()].filter((r) => r.namespace === namespace);
  }

  private recompile(namespace: string, service: string): void {
    const svc = this.services.get(key(namespace, service));
    const host = `${service}.${namespace}`;
    if (!svc) {
      this.tags.delete(serviceTag(service, namespace));
      this.routing.delete(host);
      this.problems.delete(key(namespace, service));
      return;
    }
    const about = <T extends AnyMesh>(m: Map<string, T>) => [...m.values()].filter((o) => o.metadata.namespace === namespace && (o.spec as { service: string }).service === service);
    this.tags.set(serviceTag(service, namespace), { service, namespace });
    const releases = about(this.releases).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    try {
      const gray = releases[0];
      this.routing.set(host, compileRouting({
        namespace, service, spec: svc.spec,
        rules: about(this.rules).map((r) => ({ name: r.metadata.name, spec: r.spec })),
        ...(about(this.breakers)[0] ? { breaker: about(this.breakers)[0]!.spec } : {}),
        ...(gray ? { gray: { name: gray.metadata.name, spec: gray.spec, status: gray.status } } : {}),
        generation: ++this.generation,
      }));
      this.problems.delete(key(namespace, service));
    } catch (e) {
      const why = (e as Error).message;
      this.problems.set(key(namespace, service), why);
      this.log(`the rules of ${host} cannot run, the last good ones stay in force: ${why}`);
    }
  }
}
