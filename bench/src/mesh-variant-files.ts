import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A variant of the nginx plane for mesh-lua-ab.js: a directory whose files replace the plane's
// (`*.lua` in its lua/ dir, others at its root, where `@DIR@` and `@PORT@` read as the plane's
// directory and port: an nginx.conf from another build, as mesh-lua-variant.js writes both).

/** Writes the variant `variant`'s files into the nginx plane's directory `dir` (listening on `port`). */
export function applyVariant(variant: string, dir: string, port: string): void {
  for (const f of readdirSync(variant)) {
    if (f.endsWith('.lua')) copyFileSync(join(variant, f), join(dir, 'lua', f));
    else writeFileSync(join(dir, f), readFileSync(join(variant, f), 'utf8').replaceAll('@DIR@', dir).replaceAll('@PORT@', port));
  }
}
