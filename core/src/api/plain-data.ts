// What the API accepts as an object's content: plain JSON data within bounds. Kubernetes bounds
// nesting too (sigs.k8s.io/json); ours is lower because every object is cloned, patched,
// compared and serialised by recursive code, and no real manifest comes near it.

/** The deepest nesting of objects and arrays a body (or a patched object) may have. */
export const maxNestingDepth = 100;

export interface DataProblem {
  /** Where, as a field path (`spec.items[3].x`); '' for the whole value. */
  field: string;
  message: string;
}

/**
 * The first way `value` is not plain, bounded JSON data: nested deeper than `maxDepth`
 * (which also catches a cycle), a number that is not finite (`1e400`, YAML `.inf`/`.nan`),
 * or anything JSON cannot say (binary, dates, sets, functions). Iterative, so no input can
 * exhaust the stack here.
 */
export function findDataProblem(value: unknown, maxDepth = maxNestingDepth): DataProblem | undefined {
  const stack: Array<{ v: unknown; depth: number; field: string }> = [{ v: value, depth: 0, field: '' }];
  while (stack.length) {
    const { v, depth, field } = stack.pop()!;
    // undefined is what in-process writers leave for "absent" (JSON.stringify drops it).
    if (v === null || v === undefined || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { field, message: `${v} is not a number JSON can hold: numbers must be finite` };
      continue;
    }
    if (typeof v !== 'object') return { field, message: `a ${typeof v} is not JSON data` };
    if (depth >= maxDepth) return { field, message: `objects and arrays may be nested at most ${maxNestingDepth} levels deep` };
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, depth: depth + 1, field: `${field}[${i}]` }));
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      return { field, message: `a ${(v as object).constructor?.name ?? 'non-plain object'} is not JSON data` };
    }
    for (const [k, item] of Object.entries(v)) stack.push({ v: item, depth: depth + 1, field: field ? `${field}.${k}` : k });
  }
  return undefined;
}

/** A message for a Status: the problem and where it is. */
export const describeDataProblem = (p: DataProblem) => (p.field ? `${shortField(p.field)}: ${p.message}` : p.message);

/** A field path fit for a message: a path 100 levels deep is mostly repetition. */
export const shortField = (field: string) => (field.length > 120 ? `${field.slice(0, 120)}…` : field);

/**
 * A client's value as it goes into a message. Never `String(v)` or a template literal on a
 * value that may be an object: `{"toString": 1}` makes those throw.
 */
export function showValue(v: unknown, max = 100): string {
  const text = typeof v === 'string' ? v : (JSON.stringify(v) ?? typeof v);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
