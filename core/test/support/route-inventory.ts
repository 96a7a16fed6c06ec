import type { Core } from '../../src/server.js';

/** The core's route inventory: every router layer, with the methods and path pattern it answers. */
export function routerLayers(core: Core): Array<{ methods: string[]; path: string }> {
  return (core.router as unknown as { stack: Array<{ methods: string[]; path: string }> }).stack;
}

/**
 * Every concrete path a router pattern stands for: each `:param` named in `samples` takes each
 * of its values, `{*rest}` each of `rest(path)`, and any other parameter (`:ws`, `{*path}`) an
 * ordinary sample value.
 */
export function concretePaths(path: string, samples: Record<string, string[]>, rest: (path: string) => string[]): string[] {
  let out = [path];
  for (const [name, values] of Object.entries(samples)) {
    out = out.flatMap((p) => (p.includes(`:${name}`) ? values.map((v) => p.replaceAll(`:${name}`, v)) : [p]));
  }
  out = out.flatMap((p) => (p.includes('{*rest}') ? rest(p).map((r) => p.replace('{*rest}', r)) : [p]));
  return out.map((p) => p.replace(/:(\w+)/g, 'sample-$1').replace(/\{\*(\w+)\}/g, 'sample/$1'));
}
