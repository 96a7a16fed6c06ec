import { isPlainObject } from '../api/own-properties.js';
import type { KindDefinition } from '../registry/kind.js';
import type { KubeObject } from '../store/resource-store.js';
import type { FieldSet } from './field-set.js';
import { fieldSetOf } from './field-set-of.js';
import { objectSchemaOf } from './schema-shape.js';

// Moving from client-side to server-side `kubectl apply`, as kube-apiserver eases it for the
// field manager "kubectl" only: fields in the last-applied-configuration annotation that
// client-side apply wrote may be taken without a conflict, and the annotation is kept in step
// with what is applied, so a later client-side apply computes the right patch.

export const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';
export const kubectlManager = 'kubectl';

/** The fields of the live object's last-applied configuration; undefined when it has none (or it is not JSON). */
export function lastAppliedFields(def: KindDefinition, live: KubeObject | undefined): FieldSet | undefined {
  const text = live?.metadata.annotations?.[lastAppliedAnnotation];
  if (typeof text !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isPlainObject(parsed) ? fieldSetOf(parsed, objectSchemaOf(def)) : undefined;
}

/** Sets the annotation to the applied configuration (without the annotation), when the live object had one. */
export function syncLastApplied(live: KubeObject | undefined, merged: KubeObject, config: KubeObject): void {
  if (live?.metadata.annotations?.[lastAppliedAnnotation] === undefined) return;
  const applied = structuredClone(config);
  if (applied.metadata.annotations) {
    delete applied.metadata.annotations[lastAppliedAnnotation];
    if (Object.keys(applied.metadata.annotations).length === 0) delete applied.metadata.annotations;
  }
  merged.metadata.annotations = { ...merged.metadata.annotations, [lastAppliedAnnotation]: JSON.stringify(applied) };
}
