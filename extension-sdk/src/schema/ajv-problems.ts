import type { ErrorObject } from 'ajv';
import { describePattern } from '../manifest/patterns.js';
import type { ManifestProblem } from '../manifest/types.js';
import { describeValue } from '../util/describe-value.js';
import { childPointer } from '../util/json-pointer.js';

/**
 * Turns ajv errors into `{path, message}` sentences a person can act on: the path points
 * at the offending field itself (a missing or unknown property, a bad map key), and the
 * message says what was expected and what was found.
 */
export function ajvErrorsToProblems(errors: readonly ErrorObject[] | null | undefined): ManifestProblem[] {
  if (!errors) return [];
  const problems: ManifestProblem[] = [];
  const seen = new Set<string>();
  const keysWithInnerErrors = new Set(
    errors.filter((e) => e.propertyName !== undefined).map((e) => `${e.instancePath}\0${e.propertyName}`),
  );
  for (const error of errors) {
    // "property name must be valid" only repeats the inner error that names the key.
    if (error.keyword === 'propertyNames' && keysWithInnerErrors.has(`${error.instancePath}\0${propertyNameOf(error)}`)) {
      continue;
    }
    const problem = toProblem(error);
    const key = `${problem.path}\0${problem.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      problems.push(problem);
    }
  }
  return problems;
}

function propertyNameOf(error: ErrorObject): string | undefined {
  const params = error.params as { propertyName?: unknown };
  return typeof params.propertyName === 'string' ? params.propertyName : undefined;
}

function toProblem(error: ErrorObject): ManifestProblem {
  const base = error.instancePath === '' ? '/' : error.instancePath;
  const params = error.params as Record<string, unknown>;
  const got = `, got ${describeValue(error.data)}`;

  if (error.propertyName !== undefined) {
    const detail = error.keyword === 'pattern' ? describePattern(String(params.pattern)) : (error.message ?? 'is invalid');
    return { path: childPointer(base, error.propertyName), message: `key ${describeValue(error.propertyName)} is invalid: it ${detail}` };
  }

  switch (error.keyword) {
    case 'required':
      return { path: childPointer(base, String(params.missingProperty)), message: 'is required' };
    case 'additionalProperties':
      return {
        path: childPointer(base, String(params.additionalProperty)),
        message: `unknown field ${describeValue(params.additionalProperty)}`,
      };
    case 'type':
      return { path: base, message: `must be ${describeTypes(params.type)}${got}` };
    case 'const':
      return { path: base, message: `must be ${describeValue(params.allowedValue)}${got}` };
    case 'enum':
      return { path: base, message: `must be one of ${describeValue(params.allowedValues, 200)}${got}` };
    case 'pattern':
      return { path: base, message: `${describePattern(String(params.pattern))}${got}` };
    case 'minLength':
      return { path: base, message: params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long` };
    case 'maxLength':
      return { path: base, message: `must be at most ${String(params.limit)} characters long` };
    case 'minItems':
      return { path: base, message: `must have at least ${String(params.limit)} item(s)` };
    case 'maxItems':
      return { path: base, message: `must have at most ${String(params.limit)} items` };
    case 'uniqueItems':
      return { path: base, message: `must not contain duplicates (items ${String(params.j)} and ${String(params.i)} are equal)` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path: base, message: `must be ${String(params.comparison)} ${String(params.limit)}${got}` };
    case 'format':
      return { path: base, message: `must be a valid ${describeFormat(String(params.format))}${got}` };
    default:
      return { path: base, message: error.message ?? 'is invalid' };
  }
}

function describeTypes(type: unknown): string {
  const types = Array.isArray(type) ? type.map(String) : String(type).split(',');
  const words = types.map((t) => (t === 'object' ? 'an object' : t === 'array' ? 'an array' : t === 'integer' ? 'an integer' : `a ${t}`));
  return words.join(' or ');
}

function describeFormat(format: string): string {
  switch (format) {
    case 'uri':
      return 'URL';
    case 'email':
      return 'email address';
    case 'date-time':
      return 'RFC 3339 date-time';
    default:
      return format;
  }
}
