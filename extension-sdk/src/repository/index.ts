// `@mortise/extension-sdk/repository`: repository indexes, the repository client and publishing.
export * from './types.js';
export { RepositoryError, type RepositoryErrorCode } from './errors.js';
export { repositoryIndexSchema, indexEntrySchema } from './schema.js';
export { parseRepositoryIndex } from './parse-index.js';
export { serializeRepositoryIndex } from './serialize-index.js';
export {
  addToIndex,
  yankInIndex,
  latestEntry,
  findEntry,
  versionsOf,
  emptyRepositoryIndex,
  entryFromManifest,
  sortNewestFirst,
  indexCategories,
  type AddToIndexOptions,
} from './index-operations.js';
export { RepositoryClient, type RepositoryClientOptions, type RepositoryCredentials } from './client.js';
export { publishPackage, PublishError, type PublishOptions, type PublishResult } from './publish-client.js';
