import { badRequest } from './status.js';

/**
 * A query parameter that means one value: absent → undefined, given twice → 400 (Koa's
 * `ctx.query` would hand a route an array where it expects a string).
 */
export function singleQueryParam(q: URLSearchParams, name: string): string | undefined {
  const all = q.getAll(name);
  if (all.length > 1) throw badRequest(`the query parameter "${name}" is given ${all.length} times: give it once`);
  return all[0];
}
