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
  if (Array.isArray(backend.listeners)) {
    const seen = new Set<unknown>();
    backend.listeners.forEach((l, i) => {
      if (!isRecord(l)) return;
      if (seen.has(l.name)) problems.push({ path: `/backend/listeners/${i}/name`, message: `duplicates the name ${describeValue(l.name)}` });
      seen.add(l.name);
    });
  }
  return problems;
}

/** Admission validates the extension's own kinds: it needs a process backend and CRDs to apply to. */
export function checkAdmission(manifest: Record<string, unknown>): ManifestProblem[] {
  if (manifest.admission === undefined) return [];
  const problems: ManifestProblem[] = [];
  if (!isRecord(manifest.backend)) problems.push({ path: '/admission', message: 'admission needs a backend to answer it' });
  if (!Array.isArray(manifest.resources) || manifest.resources.length === 0) problems.push({ path: '/admission', message: 'admission applies to the CRDs in "resources", and there are none' });
  return problems;
}
