import type { ManifestProblem } from '../types.js';
import { describeValue } from '../../util/describe-value.js';
import { isRecord } from '../../util/guards.js';

/** A backend is either a process (entry) or a container (image), never both or neither. */
export function checkBackend(manifest: Record<string, unknown>): ManifestProblem[] {
  const backend = manifest.backend;
  if (!isRecord(backend)) return [];
  const problems: ManifestProblem[] = [];
  const hasEntry = backend.entry !== undefined;
  const hasImage = backend.image !== undefined;
  if (hasEntry && hasImage) {
    problems.push({ path: '/backend', message: 'must set either "entry" (a process) or "image" (a container), not both' });
  } else if (!hasEntry && !hasImage) {
    problems.push({ path: '/backend', message: 'must set "entry" (a process, e.g. "dist/server.js") or "image" (a container image)' });
  }
  if (typeof backend.image === 'string' && /\s/.test(backend.image)) {
    problems.push({ path: '/backend/image', message: `must be a container image reference without spaces, got ${describeValue(backend.image)}` });
  }
  if (typeof backend.healthPath === 'string' && /[\s?#]/.test(backend.healthPath)) {
    problems.push({ path: '/backend/healthPath', message: `must be a plain path without spaces, query or fragment, got ${describeValue(backend.healthPath)}` });
  }
  return problems;
}
