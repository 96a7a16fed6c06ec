import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreCrdYaml } from '../registry/crd-yaml.js';

// Writes core/config/crds/ from the kinds' schemas (one definition, two forms).
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config', 'crds');
mkdirSync(dir, { recursive: true });
const files = coreCrdYaml();
for (const f of readdirSync(dir)) if (f.endsWith('.yaml') && !files.has(f)) rmSync(join(dir, f));
for (const [name, content] of files) writeFileSync(join(dir, name), content);
process.stdout.write(`wrote ${files.size} CRDs to ${dir}\n`);
