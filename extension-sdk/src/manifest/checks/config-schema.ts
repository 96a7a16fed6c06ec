import type { ValidateFunction } from 'ajv';
import type { ManifestProblem } from '../types.js';
import { ajvErrorsToProblems } from '../../schema/ajv-problems.js';
import { createAjv } from '../../schema/create-ajv.js';
import { isRecord } from '../../util/guards.js';
import { joinPointers } from '../../util/json-pointer.js';

type Compiled = { validate: ValidateFunction } | { error: string };

/** Compiling a schema costs milliseconds; manifests (and their versions) repeat schemas. */
const MAX_CACHED_SCHEMAS = 100;
const compiledSchemas = new Map<string, Compiled>();

/** configSchema must compile as a JSON Schema, and the default config must satisfy it. */
export function checkConfigSchema(manifest: Record<string, unknown>): ManifestProblem[] {
  const { configSchema, config } = manifest;
  if (!isRecord(configSchema)) return [];
  const compiled = compileCached(configSchema);
  if ('error' in compiled) return [{ path: '/configSchema', message: `must be a valid JSON Schema: ${compiled.error}` }];
  if (!isRecord(config) || compiled.validate(config)) return [];
  return ajvErrorsToProblems(compiled.validate.errors).map((p) => ({
    path: joinPointers('/config', p.path),
    message: `does not match configSchema: ${p.message}`,
  }));
}

function compileCached(schema: Record<string, unknown>): Compiled {
  let key: string | undefined;
  try {
    key = JSON.stringify(schema);
  } catch {
    key = undefined; // not JSON (e.g. a BigInt): compile uncached, it will most likely fail
  }
  const cached = key === undefined ? undefined : compiledSchemas.get(key);
  if (cached) return cached;
  const compiled = compile(schema);
  if (key !== undefined) {
    compiledSchemas.set(key, compiled);
    if (compiledSchemas.size > MAX_CACHED_SCHEMAS) compiledSchemas.delete(compiledSchemas.keys().next().value!);
  }
  return compiled;
}

function compile(schema: Record<string, unknown>): Compiled {
  // A fresh instance per schema: schemas with the same $id must not collide, and annotation
  // keywords (x-ui hints and the like) are the author's business.
  const ajv = createAjv({ strict: false, logger: false });
  try {
    return { validate: ajv.compile(structuredCloneSafe(schema)) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** ajv keeps a reference to the schema; a copy keeps later changes by the caller out of the cache. */
function structuredCloneSafe(schema: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(schema);
  } catch {
    return schema;
  }
}
