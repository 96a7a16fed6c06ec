import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseManifestYaml, validateManifest, type ManifestValidationResult } from '../src/index.js';
import { fullManifest } from './helpers/fixtures.js';

/** The shape every call must return, whatever it was given. */
function expectWellFormed(result: ManifestValidationResult): void {
  expect(typeof result.valid).toBe('boolean');
  expect(Array.isArray(result.errors)).toBe(true);
  for (const problem of result.errors) {
    expect(typeof problem.path).toBe('string');
    expect(problem.path.startsWith('/')).toBe(true);
    expect(typeof problem.message).toBe('string');
    expect(problem.message.length).toBeGreaterThan(0);
  }
  if (result.valid) {
    expect(result.errors).toEqual([]);
    expect(result.manifest).toBeDefined();
  } else {
    expect(result.errors.length).toBeGreaterThan(0);
  }
}

/** Every JSON-pointer-like path (as key arrays) inside a value. */
function pathsOf(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

type Mutation = { path: Array<string | number>; op: 'replace' | 'delete' | 'add'; value: unknown; key: string };

function mutate(base: Record<string, unknown>, mutations: Mutation[]): unknown {
  let root: unknown = structuredClone(base);
  for (const { path, op, value, key } of mutations) {
    if (path.length === 0) {
      if (op === 'replace') root = value;
      continue;
    }
    let parent: unknown = root;
    for (const segment of path.slice(0, -1)) {
      if (typeof parent !== 'object' || parent === null) break;
      parent = (parent as Record<string | number, unknown>)[segment];
    }
    if (typeof parent !== 'object' || parent === null) continue;
    const container = parent as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    // Reflect: a value the fuzz put there earlier may refuse writes (a String object's indexes).
    if (op === 'replace') Reflect.set(container, last, value);
    else if (op === 'delete') Reflect.deleteProperty(container, last);
    else {
      const target = container[last];
      // defineProperty: an own "__proto__" key, as JSON.parse or YAML would produce it.
      if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
        Reflect.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return root;
}

function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value) || ArrayBuffer.isView(value)) return value;
  seen.add(value);
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<string | symbol, unknown>)[key], seen);
  return Object.freeze(value);
}

// A fixed seed, so a failure is the same failure on every run (MORTISE_FUZZ_SEED explores others).
fc.configureGlobal({ seed: Number(process.env.MORTISE_FUZZ_SEED ?? 20261201) });

const base = fullManifest();
const mutationArbitrary = fc.record({
  path: fc.constantFrom(...pathsOf(base)),
  op: fc.constantFrom<'replace' | 'delete' | 'add'>('replace', 'delete', 'add'),
  value: fc.anything({ withNullPrototype: true, withObjectString: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }),
  key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'en', 'entry', 'image', '$ref')),
});

describe('validateManifest under fuzzing', () => {
  it('never throws on arbitrary values and always answers { valid: boolean, errors: [...] }', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }), (value) => {
        expectWellFormed(validateManifest(value));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on mutated valid manifests, and never changes its input', () => {
    fc.assert(
      fc.property(fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 }), (mutations) => {
        // Frozen: any attempt to write into the input throws in strict-mode code.
        const value = deepFreeze(mutate(base, mutations));
        expectWellFormed(validateManifest(value));
      }),
      { numRuns: 500 },
    );
  });

  it('gives the same verdict for a manifest and its YAML text', () => {
    const jsonSafe = fc.anything({ maxDepth: 3 }).filter((v) => v !== undefined);
    fc.assert(
      fc.property(fc.constantFrom(...pathsOf(base).filter((p) => p.length > 0)), jsonSafe, (path, value) => {
        const mutated = JSON.parse(JSON.stringify(mutate(base, [{ path, op: 'replace', value, key: '' }]) ?? null)) as unknown;
        expect(parseManifestYaml(stringify(mutated)).valid).toBe(validateManifest(mutated).valid);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        expectWellFormed(parseManifestYaml(text));
      }),
      { numRuns: 300 },
    );
  });
});
