import type { KindDefinition } from '../registry/kind.js';
import { accessReviewKinds } from '../iam/access-review-routes.js';
import { configMapKind, secretKind } from './config-data.js';
import { crdKind, namespaceKind } from './builtin.js';
import { coreKinds } from './index.js';

/** Every kind the core defines itself (server.ts registers them, with their strategies); the bundle precompiles their schemas. */
export function builtinKinds(): KindDefinition[] {
  return [namespaceKind(), secretKind(), configMapKind(), ...coreKinds(), ...accessReviewKinds(), crdKind()];
}
