import { stringify } from 'yaml';
import { coreKinds } from '../schemas/index.js';
import { crdFromKind } from './crd.js';

/** The core's kinds as CRD YAML files for the kubernetes mode: file name → content. */
export function coreCrdYaml(): Map<string, string> {
  const files = new Map<string, string>();
  for (const def of coreKinds()) {
    const header = `# Generated from core/src/schemas by \`npm run gen:crds\`; do not edit.\n`;
    files.set(`${def.group}_${def.plural}.yaml`, header + stringify(crdFromKind(def), { lineWidth: 0 }));
  }
  return files;
}
