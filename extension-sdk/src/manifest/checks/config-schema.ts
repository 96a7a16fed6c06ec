import type { ManifestProblem } from '../types.js';
import { ajvErrorsToProblems } from '../../schema/ajv-problems.js';
import { createAjv } from '../../schema/create-ajv.js';
import { isRecord } from '../../util/guards.js';
import { joinPointers } from '../../util/json-pointer.js';

/** configSchema must compile as a JSON Schema, and the default config must satisfy it. */
export function checkConfigSchema(manifest: Record<string, unknown>): ManifestProblem[] {
  const { configSchema, config } = manifest;
  if (!isRecord(configSchema)) return [];
  // A fresh instance per manifest: schemas with the same $id must not collide, and
  // annotation keywords (x-ui hints and the like) are the author's business.
  const ajv = createAjv({ strict: false, logger: false });
  let validate;
  try {
    validate = ajv.compile(configSchema);
  } catch (error) {
    return [{ path: '/configSchema', message: `must be a valid JSON Schema: ${(error as Error).message}` }];
  }
  if (!isRecord(config)) return [];
  if (validate(config)) return [];
  return ajvErrorsToProblems(validate.errors).map((p) => ({
    path: joinPointers('/config', p.path),
    message: `does not match configSchema: ${p.message}`,
  }));
}
