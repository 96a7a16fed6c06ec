// `@mortise/extension-sdk/manifest`: the manifest's types, schema, parsing and checks.
export * from './types.js';
export { extensionManifestSchema } from './schema.js';
export { validateManifest } from './validate.js';
export { parseManifestYaml, parseYamlDocument, type YamlParseResult } from './parse-yaml.js';
export { loadManifestFromDir } from './load-from-dir.js';
export { checkReferencedFiles } from './referenced-files.js';
export { directoryFileSource, mapFileSource, type ManifestFileSource } from './file-source.js';
export { withManifestDefaults } from './defaults.js';
export { frontendDirectory, frontendExposureWarnings, isPublicAsset, publicAssets, type PublicAssets } from './public-assets.js';
export { versionProblem } from './checks/versions.js';
export { RESERVED_API_GROUPS } from './checks/api-services.js';
export { RESERVED_PATH_SEGMENTS } from './checks/reverse-proxies.js';
