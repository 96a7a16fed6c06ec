import { parseDocument } from 'yaml';
import type { ManifestProblem, ManifestValidationResult } from './types.js';
import { validateManifest } from './validate.js';

/** YAML aliases expanded beyond this are treated as a resource-exhaustion attempt. */
const MAX_ALIAS_COUNT = 100;

export type YamlParseResult = { ok: true; value: unknown } | { ok: false; problems: ManifestProblem[] };

/** Parses one YAML document; syntax errors become problems that carry line and column. */
export function parseYamlDocument(text: string): YamlParseResult {
  // logLevel error: a package's YAML is untrusted input, and yaml's warnings (an unresolved tag) would
  // otherwise go to the stderr of whoever reads it (the core). They are problems here instead.
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true, logLevel: 'error' });
  const errors = [...document.errors, ...document.warnings];
  if (errors.length > 0) {
    return {
      ok: false,
      problems: errors.map((error) => {
        const position = error.linePos?.[0];
        const where = position ? ` at line ${position.line}, column ${position.col}` : '';
        const firstLine = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        return { path: '/', message: `YAML syntax error${where}: ${firstLine}` };
      }),
    };
  }
  try {
    return { ok: true, value: document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (error) {
    return { ok: false, problems: [{ path: '/', message: `YAML could not be loaded: ${(error as Error).message}` }] };
  }
}

/** Parses and validates the text of an `extension.yaml`. */
export function parseManifestYaml(text: string): ManifestValidationResult {
  const parsed = parseYamlDocument(text);
  if (!parsed.ok) return { valid: false, errors: parsed.problems };
  return validateManifest(parsed.value);
}
