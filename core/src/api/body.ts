import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { isCollection, isPair, isScalar, parseAllDocuments, visit, type Document } from 'yaml';
import { describeDataProblem, findDataProblem } from './plain-data.js';
import { badRequest, tooLarge, unsupportedMediaType } from './status.js';

/** Kubernetes' own request-body bound. */
export const defaultBodyLimit = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = defaultBodyLimit): Promise<Buffer> {
  try {
    return await getRawBody(req, { limit });
  } catch (e) {
    // raw-body leaves the request paused: discard the rest, or the connection (and a graceful
    // shutdown waiting for it) hangs until the client gives up.
    req.resume();
    const err = e as { type?: string; limit?: number };
    if (err.type === 'entity.too.large') throw tooLarge(`the request body is larger than the ${Math.round(limit / 1024)} KiB limit`);
    throw badRequest(`could not read the request body: ${(e as Error).message}`);
  }
}

/**
 * A JSON (or YAML) object body, with parse errors a person can act on. What comes back is
 * plain JSON data within the limits of plain-data.ts, whatever the content type.
 */
export async function readObjectBody(req: IncomingMessage, opts: { limit?: number; contentType?: string } = {}): Promise<unknown> {
  const raw = await readBody(req, opts.limit ?? defaultBodyLimit);
  const type = (opts.contentType ?? req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const text = raw.toString('utf8');
  if (text.trim() === '') throw badRequest('the request body is empty: send the object as JSON');
  let value: unknown;
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') {
    value = parseYamlData(text);
  } else {
    if (!type.endsWith('json')) throw unsupportedMediaType(`unsupported content type "${type}": send application/json`);
    try {
      // V8's JSON.parse is not recursive: depth is checked on the result.
      value = JSON.parse(text);
    } catch (e) {
      throw badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
    }
  }
  const problem = findDataProblem(value);
  if (problem) throw badRequest(`the request body is not acceptable: ${describeDataProblem(problem)}`);
  return value;
}

// YAML 1.2's core schema is exactly what JSON can say; any other tag (!!binary, !!set,
// !!timestamp, a local !tag) would turn into something else on the way to JSON.
const coreTags = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

/** YAML restricted to the JSON-compatible core schema; anything else is a 400 naming it. */
function parseYamlData(text: string): unknown {
  let docs: Document[];
  try {
    // logLevel silent: problems are answered to the client, never printed on the core's stderr.
    docs = parseAllDocuments(text, { schema: 'core', merge: false, uniqueKeys: true, logLevel: 'silent' }) as Document[];
  } catch (e) {
    throw badRequest(`the request body is not valid YAML: ${(e as Error).message}`);
  }
  if (docs.length !== 1) throw badRequest(`the request body must hold exactly one YAML document, not ${docs.length}`);
  const doc = docs[0]!;
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length) throw badRequest(`the request body is not valid YAML: ${problems[0]!.message.split('\n')[0]}`);
  let why: string | undefined;
  visit(doc, (_key, node) => {
    if (isPair(node)) {
      if (!isScalar(node.key) || node.key.value === null || typeof node.key.value === 'object') why = 'mapping keys must be plain scalars (no lists, maps, aliases or null)';
    } else if ((isScalar(node) || isCollection(node)) && node.tag !== undefined && !coreTags.has(node.tag)) {
      why = `the tag ${node.tag} is not supported: YAML bodies are limited to the core schema (JSON-compatible data)`;
    }
    return why ? visit.BREAK : undefined;
  });
  if (why) throw badRequest(`the request body is not acceptable YAML: ${why}`);
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw badRequest(`the request body is not acceptable YAML: ${(e as Error).message}`);
  }
}
