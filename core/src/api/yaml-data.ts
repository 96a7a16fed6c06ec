import { isCollection, isPair, isScalar, parseAllDocuments, visit, type Document } from 'yaml';

// YAML 1.2's core schema is exactly what JSON can say; any other tag (!!binary, !!set,
// !!timestamp, a local !tag) would turn into something else on the way to JSON.
const coreTags = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

/** Alias expansions allowed per document (a "billion laughs" stops here). */
const maxAliasCount = 100;

/**
 * The documents of a YAML text as plain JSON-compatible data (the core schema). Throws an
 * Error whose message names the first problem: a syntax error, an unresolved or non-core tag,
 * a mapping key that is not a plain scalar, too many aliases. Nothing is printed: yaml's
 * warnings become errors here instead of lines on stderr.
 */
export function parseYamlData(text: string): unknown[] {
  let docs: Document[];
  try {
    docs = parseAllDocuments(text, { schema: 'core', merge: false, uniqueKeys: true, logLevel: 'error' }) as Document[];
  } catch (e) {
    throw new Error(`not valid YAML: ${(e as Error).message}`);
  }
  return docs.map((doc, i) => {
    const where = docs.length > 1 ? `document ${i + 1}: ` : '';
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length) throw new Error(`${where}${problems[0]!.message.split('\n')[0]}`);
    let why: string | undefined;
    visit(doc, (_key, node) => {
      if (isPair(node)) {
        if (!isScalar(node.key) || node.key.value === null || typeof node.key.value === 'object') why = 'mapping keys must be plain scalars (no lists, maps, aliases or null)';
      } else if ((isScalar(node) || isCollection(node)) && node.tag !== undefined && !coreTags.has(node.tag)) {
        why = `the tag ${node.tag} is not supported: YAML is limited to the core schema (JSON-compatible data)`;
      }
      return why ? visit.BREAK : undefined;
    });
    if (why) throw new Error(`${where}${why}`);
    try {
      return doc.toJS({ maxAliasCount }) as unknown;
    } catch (e) {
      throw new Error(`${where}${(e as Error).message}`);
    }
  });
}
