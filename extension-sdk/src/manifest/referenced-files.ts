import { parseAllDocuments } from 'yaml';
import { describeValue } from '../util/describe-value.js';
import { arrayItems, isRecord } from '../util/guards.js';
import { unsafePackagePathReason } from '../util/package-path.js';
import { jsonPointer } from '../util/json-pointer.js';
import type { ManifestFileSource } from './file-source.js';
import { DEFAULT_README, type ManifestProblem } from './types.js';

const isUrl = (value: string) => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(value);

/**
 * Every file the manifest names exists in `source`, and each `resources` file holds
 * CustomResourceDefinitions. Works on documents of any shape (so it can run beside schema
 * validation and report everything at once). A missing default README.md is not a problem.
 */
export async function checkReferencedFiles(document: unknown, source: ManifestFileSource): Promise<ManifestProblem[]> {
  if (!isRecord(document)) return [];
  const problems: ManifestProblem[] = [];
  const mustExist = async (file: unknown, path: string): Promise<Buffer | undefined> => {
    if (typeof file !== 'string' || file.length === 0 || isUrl(file) || unsafePackagePathReason(file)) return undefined;
    const data = await source.read(file);
    if (data === undefined) problems.push({ path, message: `file ${describeValue(file)} does not exist in ${source.description}` });
    return data;
  };

  await mustExist(document.icon, '/icon');
  for (const [i, screenshot] of arrayItems(document.screenshots).entries()) {
    await mustExist(screenshot, jsonPointer('screenshots', i));
  }
  if (document.readme !== DEFAULT_README) await mustExist(document.readme, '/readme');
  if (isRecord(document.backend)) await mustExist(document.backend.entry, '/backend/entry');
  if (isRecord(document.frontend)) await mustExist(document.frontend.remoteEntry, '/frontend/remoteEntry');

  for (const [i, file] of arrayItems(document.resources).entries()) {
    const path = jsonPointer('resources', i);
    const data = await mustExist(file, path);
    if (data !== undefined) problems.push(...crdFileProblems(String(file), data.toString('utf8'), path));
  }
  return problems;
}

function crdFileProblems(file: string, text: string, path: string): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const documents = parseAllDocuments(text, { uniqueKeys: true, logLevel: 'silent' });
  if (!Array.isArray(documents)) return [{ path, message: `file ${describeValue(file)} is empty` }];
  documents.forEach((document, index) => {
    const where = `document ${index + 1} of ${describeValue(file)}`;
    const error = document.errors[0] ?? document.warnings[0];
    if (error) {
      const line = error.linePos?.[0]?.line;
      problems.push({ path, message: `${where} is not valid YAML${line ? ` (line ${line})` : ''}: ${error.message.split('\n')[0]}` });
      return;
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (e) {
      problems.push({ path, message: `${where} could not be loaded: ${(e as Error).message}` });
      return;
    }
    if (value === null || value === undefined) return;
    if (!isRecord(value) || value.apiVersion !== 'apiextensions.k8s.io/v1' || value.kind !== 'CustomResourceDefinition') {
      problems.push({ path, message: `${where} must be an apiextensions.k8s.io/v1 CustomResourceDefinition` });
    } else if (!isRecord(value.metadata) || typeof value.metadata.name !== 'string') {
      problems.push({ path, message: `${where} has no metadata.name` });
    }
  });
  return problems;
}
