export {
  createExtensionBackend, type ExtensionBackend, type ExtensionBackendOptions, type BackendState, type BackendContext, type RunningBackend,
} from './create-backend.js';
export { createIdentityVerifier, IdentityError, IDENTITY_HEADER, type Identity, type IdentityVerifier, type IdentityVerifierOptions } from './identity.js';
export { CoreClient, CoreApiError, type CoreClientOptions, type CoreRequestOptions, type CoreStatus } from './core-client.js';
export {
  RUNTIME_ENV, extensionServiceAccount, runtimeEnvironment, readRuntimeEnvironment, type RuntimeEnvKey, type RuntimeEnvironment,
} from './runtime-env.js';
export { watchCollection, type CollectionWatch, type CollectionWatchHandlers, type CollectionWatchOptions, type WatchEventType, type WatchedObject } from './core-watch.js';
export { DEFAULT_MAX_BODY_BYTES } from './json-body.js';
export type { BackendLog } from './errors.js';
export { isNamespaceName, isObjectName } from './object-names.js';
