/**
 * The stored JSON of objects and whole collections read lately, so that a GET or a LIST repeated
 * between writes is answered without SQLite. Only a store that makes every write to its file
 * itself (the single writer) may keep one: it forgets an object and its collections in the same
 * tick as it commits a write to them, before anything else can read. Bounded by the characters it
 * holds; the oldest entries go first.
 */
export class StoredJsonCache {
  private readonly entries = new Map<string, { value: string | string[]; size: number }>();
  private size = 0;

  constructor(private readonly maxChars: number) {}

  getObject(resource: string, namespace: string, name: string): string | undefined {
    return this.entries.get(objectKey(resource, namespace, name))?.value as string | undefined;
  }

  setObject(resource: string, namespace: string, name: string, json: string): void {
    this.put(objectKey(resource, namespace, name), json, json.length);
  }

  /** The rows of a whole collection (`namespace` undefined: every namespace). Read-only. */
  getList(resource: string, namespace: string | undefined): string[] | undefined {
    return this.entries.get(listKey(resource, namespace))?.value as string[] | undefined;
  }

  setList(resource: string, namespace: string | undefined, rows: string[]): void {
    let size = 0;
    for (const r of rows) size += r.length;
    this.put(listKey(resource, namespace), rows, size + rows.length);
  }

  /** A write to one object: it, its namespace's collection and the all-namespaces one are stale. */
  forget(resource: string, namespace: string, name: string): void {
    this.drop(objectKey(resource, namespace, name));
    this.drop(listKey(resource, namespace));
    this.drop(listKey(resource, undefined));
  }

  private put(key: string, value: string | string[], size: number): void {
    this.drop(key);
    if (size > this.maxChars / 4) return;
    this.entries.set(key, { value, size });
    this.size += size;
    for (const [k, e] of this.entries) {
      if (this.size <= this.maxChars) break;
      this.entries.delete(k);
      this.size -= e.size;
    }
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.size -= e.size;
  }
}

// A stored object's namespace and name never hold a NUL (names are validated), so keys of
// what is cached cannot collide.
const objectKey = (resource: string, namespace: string, name: string) => `o\0${resource}\0${namespace}\0${name}`;
const listKey = (resource: string, namespace: string | undefined) => (namespace === undefined ? `a\0${resource}` : `l\0${resource}\0${namespace}`);
