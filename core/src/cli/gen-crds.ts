import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { coreCrdYaml } from '../registry/crd-yaml.js';
import { corePackageDir } from '../package-dir.js';

// Writes core/config/crds/ from the kinds' schemas (one definition, two forms).
const dir = join(corePackageDir(), 'config', 'crds');
mkdirSync(dir, { recursive: true });
const files = coreCrdYaml();
for (const f of readdirSync(dir)) if (f.endsWith('.yaml') && !files.has(f)) rmSync(join(dir, f));
for (const [name, content] of files) writeFileSync(join(dir, name), content);
process.stdout.write(`wrote ${files.size} CRDs to ${dir}\n`);
