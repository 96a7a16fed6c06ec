import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExtensionManifest } from '@mortise/extension-sdk/manifest';
import { isPlainObject } from '../api/own-properties.js';
import { showValue } from '../api/plain-data.js';
import { parseYamlData } from '../api/yaml-data.js';
import { extensionLabel } from '../schemas/extensions.js';
import type { KubeObject, OwnerReference } from '../store/resource-store.js';
import type { DesiredObject } from './extension-resources.js';
import { InstallError } from './install-error.js';

/** The CustomResourceDefinitions a package brings (its manifest's `resources`), labelled and owned by the plan. */
export function readCrds(manifest: ExtensionManifest, dir: string, owner: OwnerReference): DesiredObject[] {
  const objects: DesiredObject[] = [];
  for (const file of manifest.resources ?? []) {
    let docs: unknown[];
    try {
      // The package is untrusted input: plain JSON-compatible YAML only, nothing printed.
      docs = parseYamlData(readFileSync(join(dir, file), 'utf8'));
    } catch (e) {
      throw new InstallError(`${file}: ${(e as Error).message}`);
    }
    for (const doc of docs) {
      if (doc === null) continue;
      if (!isPlainObject(doc) || doc.kind !== 'CustomResourceDefinition') throw new InstallError(`${file} holds a ${showValue(isPlainObject(doc) ? doc.kind : doc)}; only CustomResourceDefinitions may be brought by an extension`);
      const crd = doc as unknown as KubeObject;
      crd.metadata = { ...crd.metadata, labels: { ...(crd.metadata?.labels ?? {}), [extensionLabel]: manifest.name }, ownerReferences: [owner] };
      objects.push({ group: 'apiextensions.k8s.io', plural: 'customresourcedefinitions', object: crd });
    }
  }
  return objects;
}
