import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { coreCrdYaml } from '../src/registry/crd-yaml.js';
import { SchemaValidator } from '../src/registry/schema-validator.js';
import { crdKind } from '../src/schemas/builtin.js';
import { validateCrd } from '../src/registry/crd.js';

const dir = join(import.meta.dirname, '..', 'config', 'crds');

describe('core/config/crds', () => {
  it('matches the kinds\' schemas (run `npm run gen:crds` after changing a schema)', () => {
    const expected = coreCrdYaml();
    const onDisk = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
    expect(onDisk).toEqual([...expected.keys()].sort());
    for (const [name, content] of expected) {
      expect(readFileSync(join(dir, name), 'utf8'), `${name} drifted from its schema`).toBe(content);
    }
  });

  it('holds valid CustomResourceDefinitions', () => {
    const validator = new SchemaValidator();
    const crdSchema = crdKind().schema;
    for (const [name, content] of coreCrdYaml()) {
      const crd = parse(content);
      expect(validator.validate(crdSchema, crd), name).toEqual([]);
      expect(validateCrd(crd, validator, () => false), name).toEqual([]);
    }
  });
});
