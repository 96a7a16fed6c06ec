// Objects from a request or the store are maps of the client's keys. Looking such a key up
// with plain `obj[key]` also finds what every object inherits (`constructor`, `toString`,
// `__proto__`), and assigning `obj['__proto__'] = v` replaces the prototype. These helpers
// read and write own properties only.

/** A JSON object (not an array, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `obj[key]` if `obj` has that key itself, else undefined. */
export function ownValue(obj: unknown, key: string): unknown {
  return obj !== null && typeof obj === 'object' && Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Sets `obj[key] = value` as an own data property, whatever the key (`__proto__` included). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A deep copy whose objects have no prototype, for code that walks it with `obj[key]`. */
export function withoutPrototypes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPrototypes);
  if (!isPlainObject(v)) return v;
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, item] of Object.entries(v)) out[k] = withoutPrototypes(item);
  return out;
}
