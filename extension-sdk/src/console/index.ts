// @mortise/extension-sdk/console: what an extension's frontend imports. Shared with the console
// host as a singleton (see sharedModules).
export * from './extension-points.js';
export * from './api-client.js';
export * from './runtime.js';
export * from './access.js';
export { sharedModules, packageOf, type SharedModule, type SharedModuleName } from './shared-modules.js';
