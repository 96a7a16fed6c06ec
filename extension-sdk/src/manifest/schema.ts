import {
  API_VERSION_NAME,
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN_WITH_DOT,
  ENV_NAME,
  EXPOSED_MODULE,
  HTTP_HEADER_NAME,
  HTTP_URL,
  JS_IDENTIFIER,
  LANGUAGE_TAG,
  RBAC_VERB,
  SPDX_LICENSE,
} from './patterns.js';
import { DEFAULT_HEALTH_PATH, DEFAULT_README, MANIFEST_API_VERSION, MANIFEST_KIND } from './types.js';

/**
 * JSON Schema (draft-07) of `extension.yaml`. It checks shape; `validateManifest` adds the
 * rules a schema cannot express (semver, ranges, cross-field rules, the config schema
 * compiling). Compile it with `allowUnionTypes: true` and ajv-formats.
 */

const nonEmptyString = { type: 'string', minLength: 1 } as const;
const shortString = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const dnsLabel = { type: 'string', minLength: 1, maxLength: 63, pattern: DNS1123_LABEL } as const;
const stringList = (item: object) => ({ type: 'array', items: item }) as const;

/** String keywords only apply to strings and object keywords only to objects: no anyOf noise. */
const localizedText = {
  type: ['string', 'object'],
  minLength: 1,
  maxLength: 4096,
  required: ['en'],
  propertyNames: { pattern: LANGUAGE_TAG },
  additionalProperties: { type: 'string', minLength: 1, maxLength: 4096 },
} as const;

const relativePathOrHttpsUrl = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  description: 'A relative path inside the package, or an https:// URL.',
} as const;

const relativePath = { type: 'string', minLength: 1, maxLength: 1024 } as const;

const stringMap = (keyPattern: string) =>
  ({
    type: 'object',
    propertyNames: { pattern: keyPattern },
    additionalProperties: { type: 'string' },
  }) as const;

const policyRule = {
  type: 'object',
  additionalProperties: false,
  required: ['verbs'],
  properties: {
    verbs: { type: 'array', minItems: 1, items: { type: 'string', pattern: RBAC_VERB } },
    apiGroups: stringList({ type: 'string' }),
    resources: stringList(nonEmptyString),
    resourceNames: stringList(nonEmptyString),
    nonResourceURLs: stringList(nonEmptyString),
  },
} as const;

/** A path the extension serves ("/…"), and what an administrator is told about something it asks for. */
const servedPath = { type: 'string', minLength: 2, maxLength: 512, pattern: '^/' } as const;
const adminNote = { type: 'string', minLength: 1, maxLength: 500 } as const;

const backend = {
  type: 'object',
  additionalProperties: false,
  description: 'Exactly one of entry (a Node.js process) or image (a container).',
  properties: {
    entry: relativePath,
    image: shortString(512),
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    healthPath: { type: 'string', minLength: 1, pattern: '^/', default: DEFAULT_HEALTH_PATH },
    env: stringMap(ENV_NAME),
    nativeAddons: { type: 'boolean', default: false, description: 'The backend loads native addons, which run outside the permission model (a trust decision the admin sees).' },
    childProcesses: { type: 'boolean', description: 'The backend starts child processes, which the runtime does not confine: the backend must confine them itself' },
    workerThreads: { type: 'boolean', description: 'The backend starts worker threads; a thread started with execArgv of its own runs outside the permission model (a trust decision the admin sees)' },
    listeners: {
      type: 'array',
      maxItems: 4,
      description: 'Extra ports the backend listens on (e.g. a data plane), each given by the runtime and shown to the administrator.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'description'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 32, pattern: '^[a-z]([a-z0-9-]*[a-z0-9])?$' },
          description: adminNote,
        },
      },
    },
  },
} as const;

const admission = {
  type: 'object',
  additionalProperties: false,
  required: ['validatePath'],
  description: "The backend's path the core asks before writing objects of the extension's own CRDs.",
  properties: {
    validatePath: servedPath,
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 30, default: 10 },
  },
} as const;

const frontend = {
  type: 'object',
  additionalProperties: false,
  required: ['remoteEntry', 'exposedModule'],
  properties: {
    remoteEntry: relativePath,
    exposedModule: { type: 'string', pattern: EXPOSED_MODULE },
    remoteName: { type: 'string', pattern: JS_IDENTIFIER },
    assets: { ...relativePath, description: 'The directory browsers may load files from; defaults to the directory of remoteEntry.' },
  },
} as const;

const apiService = {
  type: 'object',
  additionalProperties: false,
  required: ['group', 'version'],
  properties: {
    group: { type: 'string', maxLength: 253, pattern: DNS1123_SUBDOMAIN_WITH_DOT },
    version: { type: 'string', pattern: API_VERSION_NAME },
  },
} as const;

const webhook = {
  type: 'object',
  additionalProperties: false,
  required: ['path', 'description'],
  properties: {
    path: servedPath,
    description: adminNote,
  },
} as const;

const roleTemplate = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'displayName', 'rules'],
  properties: {
    name: { ...dnsLabel, maxLength: 40, description: 'The RoleTemplate is named "<extension>-<name>".' },
    scope: { enum: ['namespace', 'workspace', 'global'], default: 'namespace', description: 'Which roles it is meant for (labelled iam.mortise.io/scope).' },
    displayName: localizedText,
    description: localizedText,
    dependsOn: { type: 'array', maxItems: 32, uniqueItems: true, items: dnsLabel, description: 'Templates of this manifest that this one needs (the role editor selects them with it).' },
    rules: { type: 'array', minItems: 1, maxItems: 32, items: policyRule },
  },
} as const;

const reverseProxy = {
  type: 'object',
  additionalProperties: false,
  required: ['prefix'],
  properties: {
    prefix: { type: 'string', minLength: 2, maxLength: 512, pattern: '^/' },
    stripPrefix: { type: 'boolean' },
    headers: {
      type: 'object',
      additionalProperties: false,
      properties: {
        set: stringMap(HTTP_HEADER_NAME),
        remove: stringList({ type: 'string', pattern: HTTP_HEADER_NAME }),
      },
    },
  },
} as const;

export const extensionManifestSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://mortise.io/schemas/extension-manifest/v1alpha1.json',
  title: 'Mortise extension manifest (extension.yaml)',
  type: 'object',
  additionalProperties: false,
  required: [
    'apiVersion',
    'kind',
    'name',
    'version',
    'displayName',
    'description',
    'category',
    'provider',
    'license',
    'engines',
  ],
  properties: {
    apiVersion: { const: MANIFEST_API_VERSION },
    kind: { const: MANIFEST_KIND },
    name: dnsLabel,
    version: { type: 'string', minLength: 1, maxLength: 128, description: 'A semver version, e.g. 1.2.3.' },
    displayName: localizedText,
    description: localizedText,
    category: dnsLabel,
    keywords: {
      type: 'array',
      maxItems: 32,
      uniqueItems: true,
      items: shortString(64),
    },
    provider: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: shortString(128),
        email: { type: 'string', format: 'email' },
        url: { type: 'string', format: 'uri', pattern: HTTP_URL },
      },
    },
    icon: relativePathOrHttpsUrl,
    screenshots: { type: 'array', maxItems: 32, items: relativePathOrHttpsUrl },
    license: { type: 'string', minLength: 1, maxLength: 256, pattern: SPDX_LICENSE },
    homepage: { type: 'string', format: 'uri', pattern: HTTP_URL },
    readme: { ...relativePath, default: DEFAULT_README },
    engines: {
      type: 'object',
      additionalProperties: false,
      required: ['mortise'],
      properties: { mortise: { type: 'string', minLength: 1, description: 'A semver range.' } },
    },
    dependencies: {
      type: 'object',
      propertyNames: { maxLength: 63, pattern: DNS1123_LABEL },
      additionalProperties: { type: 'string', minLength: 1 },
    },
    permissions: { type: 'array', items: policyRule },
    resources: { type: 'array', items: relativePath },
    backend,
    frontend,
    apiServices: { type: 'array', items: apiService },
    reverseProxies: { type: 'array', items: reverseProxy },
    webhooks: { type: 'array', items: webhook, maxItems: 4 },
    roleTemplates: { type: 'array', items: roleTemplate, maxItems: 32 },
    admission,
    configSchema: { type: 'object' },
    config: { type: 'object' },
  },
} as const;
