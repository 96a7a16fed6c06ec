import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { directoryFileSource } from './file-source.js';
import { parseYamlDocument } from './parse-yaml.js';
import { checkReferencedFiles } from './referenced-files.js';
import { MANIFEST_FILE_NAME, type ManifestValidationResult } from './types.js';
import { validateManifest } from './validate.js';

/** Reads `<dir>/extension.yaml`, validates it and checks that the files it names exist. */
export async function loadManifestFromDir(dir: string): Promise<ManifestValidationResult> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE_NAME), 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message;
    return { valid: false, errors: [{ path: '/', message: `${MANIFEST_FILE_NAME} ${reason} in ${dir}` }] };
  }
  const parsed = parseYamlDocument(text);
  if (!parsed.ok) return { valid: false, errors: parsed.problems };
  const result = validateManifest(parsed.value);
  const fileProblems = await checkReferencedFiles(parsed.value, directoryFileSource(dir));
  if (fileProblems.length === 0) return result;
  return { valid: false, errors: [...result.errors, ...fileProblems] };
}
