import { DNS1123_LABEL, SHA256_HEX } from '../manifest/patterns.js';
import { extensionManifestSchema } from '../manifest/schema.js';

const manifestProperties = extensionManifestSchema.properties;

/**
 * JSON Schema of a repository `index.yaml`. Entries accept fields they do not know, so an
 * older client can read a newer index.
 */
export const indexEntrySchema = {
  type: 'object',
  required: ['name', 'version', 'digest', 'urls', 'created', 'engines', 'category', 'displayName', 'description', 'provider', 'license'],
  properties: {
    name: manifestProperties.name,
    version: manifestProperties.version,
    digest: { type: 'string', pattern: SHA256_HEX },
    urls: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    created: { type: 'string', format: 'date-time' },
    engines: manifestProperties.engines,
    dependencies: manifestProperties.dependencies,
    category: manifestProperties.category,
    displayName: manifestProperties.displayName,
    description: manifestProperties.description,
    keywords: manifestProperties.keywords,
    provider: manifestProperties.provider,
    icon: manifestProperties.icon,
    license: manifestProperties.license,
    homepage: manifestProperties.homepage,
    signature: { type: 'string', minLength: 1 },
    yanked: { type: 'boolean' },
    yankedReason: { type: 'string' },
  },
} as const;

export const repositoryIndexSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://mortise.io/schemas/repository-index/v1.json',
  type: 'object',
  required: ['apiVersion', 'entries'],
  properties: {
    apiVersion: { const: 'v1' },
    generated: { type: 'string', format: 'date-time' },
    entries: {
      type: 'object',
      propertyNames: { maxLength: 63, pattern: DNS1123_LABEL },
      additionalProperties: { type: 'array', items: indexEntrySchema },
    },
    categories: { type: 'array', items: { type: 'string' } },
  },
} as const;
