import type { ManifestProblem } from '../types.js';
import { checkApiServices } from './api-services.js';
import { checkAdmission, checkBackend } from './backend.js';
import { checkConfigSchema } from './config-schema.js';
import { checkFileReferences } from './file-references.js';
import { checkPermissions } from './permissions.js';
import { checkReverseProxies, checkWebhooks } from './reverse-proxies.js';
import { checkRoleTemplates } from './role-templates.js';
import { checkVersions } from './versions.js';

type ManifestCheck = (manifest: Record<string, unknown>) => ManifestProblem[];

/** Rules JSON Schema cannot express. Each check tolerates values of the wrong shape. */
const checks: ManifestCheck[] = [
  checkVersions,
  checkFileReferences,
  checkBackend,
  checkAdmission,
  checkPermissions,
  checkApiServices,
  checkReverseProxies,
  checkWebhooks,
  checkRoleTemplates,
  checkConfigSchema,
];

export function runSemanticChecks(manifest: Record<string, unknown>): ManifestProblem[] {
  return checks.flatMap((check) => check(manifest));
}
