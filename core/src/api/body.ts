import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { describeDataProblem, findDataProblem } from './plain-data.js';
import { parseYamlData } from './yaml-data.js';
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
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml' || type === 'application/apply-patch+yaml') {
    let docs: unknown[];
    try {
      docs = parseYamlData(text);
    } catch (e) {
      throw badRequest(`the request body is not acceptable YAML: ${(e as Error).message}`);
    }
    if (docs.length !== 1) throw badRequest(`the request body must hold exactly one YAML document, not ${docs.length}`);
    value = docs[0];
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
