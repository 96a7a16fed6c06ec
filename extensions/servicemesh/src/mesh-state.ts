import { compileRouting, type ServiceRouting } from './routing.js';
import type { CircuitBreaker, GrayRelease, MeshKind, MeshService, TrafficRule } from './types.js';

// The rules of every namespace as the watches deliver them, and the compiled routing per service.
// A change recompiles only the service it touches; a rule that cannot run (stored before the
// extension's admission existed, or a version removed from its service later) leaves the
// service's last good routing in force, and says why in `problems`.

type AnyMesh = MeshService | TrafficRule | CircuitBreaker | GrayRelease;
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
  private generation = 0;

  constructor(private readonly log: (msg: string) => void = () => {}) {}

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
  }

  lookup(service: string, namespace: string): ServiceRouting | undefined {
    return this.routing.get(`${service}.${namespace}`);
  }

  /** Every routing in force in a namespace. */
  inNamespace(namespace: string): ServiceRouting[] {
    return [...this.routing.values()].filter((r) => r.namespace === namespace);
  }

  private recompile(namespace: string, service: string): void {
    const svc = this.services.get(key(namespace, service));
    const host = `${service}.${namespace}`;
    if (!svc) {
      this.routing.delete(host);
      this.problems.delete(key(namespace, service));
      return;
    }
    const about = <T extends AnyMesh>(m: Map<string, T>) => [...m.values()].filter((o) => o.metadata.namespace === namespace && (o.spec as { service: string }).service === service);
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
