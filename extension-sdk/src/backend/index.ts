export {
  createExtensionBackend, type ExtensionBackend, type ExtensionBackendOptions, type BackendState, type RunningBackend,
} from './create-backend.js';
export { createIdentityVerifier, IdentityError, IDENTITY_HEADER, type Identity, type IdentityVerifier, type IdentityVerifierOptions } from './identity.js';
export { CoreClient, CoreApiError, type CoreClientOptions, type CoreRequestOptions, type CoreStatus } from './core-client.js';
