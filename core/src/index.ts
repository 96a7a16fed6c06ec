export { createCore, knownClients, consoleClientId, type Core, type CoreOptions } from './server.js';
export { configFromEnv, type CoreConfig } from './config.js';
export type { ResourceStore, KubeObject, ObjectMeta } from './store/resource-store.js';
export { SqliteStore } from './store/sqlite-store.js';
export type { Authorizer, Decision } from './auth/authorizer.js';
export type { KindDefinition, ResourceStrategy } from './registry/kind.js';
export { ApiError } from './api/status.js';
export { Controller } from './controller/controller.js';
export { WorkQueue } from './controller/work-queue.js';
