import type { ValidateFunction } from 'ajv';
import { ajvErrorsToProblems } from '../schema/ajv-problems.js';
import { createAjv } from '../schema/create-ajv.js';
import { isRecord } from '../util/guards.js';
import { runSemanticChecks } from './checks/index.js';
import { withManifestDefaults } from './defaults.js';
import { extensionManifestSchema } from './schema.js';
import type { ExtensionManifest, ManifestProblem, ManifestValidationResult } from './types.js';

let compiled: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  compiled ??= createAjv().compile(extensionManifestSchema);
  return compiled;
}

/**
 * Validates an `extension.yaml` document of any shape and lists every problem: schema
 * violations first, then the semantic rules. Never throws; never mutates `value`.
 */
export function validateManifest(value: unknown): ManifestValidationResult {
  const validate = schemaValidator();
  const problems: ManifestProblem[] = [];
  if (!validate(value)) problems.push(...ajvErrorsToProblems(validate.errors));
  if (isRecord(value)) problems.push(...runSemanticChecks(value));
  if (problems.length > 0) return { valid: false, errors: problems };
  return { valid: true, errors: [], manifest: withManifestDefaults(value as unknown as ExtensionManifest) };
}
