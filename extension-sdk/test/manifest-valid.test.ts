import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  extensionManifestSchema,
  loadManifestFromDir,
  parseManifestYaml,
  validateManifest,
  type APIServiceSpec,
  type BackendSpec,
  type ExtensionManifest,
  type FrontendSpec,
  type PolicyRule,
  type Provider,
  type ReverseProxySpec,
  type RoleTemplateSpec,
  type WebhookSpec,
  type ListenerSpec,
  type AdmissionSpec,
} from '../src/index.js';
import { fullManifest, minimalManifest, tempDir, writeExtensionDir } from './helpers/fixtures.js';

describe('validateManifest on valid manifests', () => {
  it('accepts role templates over named groups, with a scope or without', () => {
    const result = validateManifest(fullManifest({ roleTemplates: [
      { name: 'pipelines-view', displayName: { en: 'View pipelines', zh: '查看流水线' }, rules: [{ apiGroups: ['devops.mortise.io'], resources: ['pipelines', 'pipelines/log'], verbs: ['get', 'list'] }] },
      { name: 'pipelines-admin', scope: 'workspace', displayName: 'Pipelines admin', description: 'everything on pipelines', rules: [{ apiGroups: ['devops.mortise.io'], resources: ['pipelines'], verbs: ['*'] }] },
    ] }));
    expect(result.errors).toEqual([]);
  });

  it('accepts a manifest using every field', () => {
    const result = validateManifest(fullManifest());
    expect(result.errors).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('accepts the smallest manifest and fills in defaults without touching the input', () => {
    const input = minimalManifest({ backend: { image: 'registry.example.com/hello:1.0.0' } });
    const before = structuredClone(input);
    const result = validateManifest(input);
    expect(result.valid).toBe(true);
    expect(result.manifest?.readme).toBe('README.md');
    expect(result.manifest?.backend?.healthPath).toBe('/healthz');
    expect(input).toEqual(before);
  });

  it('keeps config schemas that share an $id apart', () => {
    const withSchema = (type: string, value: unknown) =>
      validateManifest(minimalManifest({ configSchema: { $id: 'https://example.com/config', type: 'object', properties: { a: { type } } }, config: { a: value } }));
    expect(withSchema('integer', 1).valid).toBe(true);
    expect(withSchema('string', 'x').valid).toBe(true);
    expect(withSchema('string', 1).errors).toEqual([{ path: '/config/a', message: 'does not match configSchema: must be a string, got 1' }]);
  });

  it('accepts prerelease versions and complex ranges', () => {
    const result = validateManifest(minimalManifest({ version: '2.0.0-rc.1', engines: { mortise: '>=0.1.0 <0.3.0 || ^1.0.0' } }));
    expect(result.errors).toEqual([]);
  });
});

describe('the schema and the TypeScript types', () => {
  // Each record must name every key of its type (the compiler checks), and the test checks
  // the schema has exactly those keys: types and schema cannot drift apart silently.
  const keysOf = <T>(keys: Record<keyof T, true>) => Object.keys(keys).sort();
  const schemaKeys = (schema: { properties: object }) => Object.keys(schema.properties).sort();
  const p = extensionManifestSchema.properties;

  it('have the same top-level fields', () => {
    expect(schemaKeys(extensionManifestSchema)).toEqual(
      keysOf<ExtensionManifest>({
        apiVersion: true, kind: true, name: true, version: true, displayName: true, description: true, category: true,
        keywords: true, provider: true, icon: true, screenshots: true, license: true, homepage: true, readme: true,
        engines: true, dependencies: true, permissions: true, resources: true, backend: true, frontend: true,
        apiServices: true, reverseProxies: true, webhooks: true, roleTemplates: true, admission: true, configSchema: true, config: true,
      }),
    );
  });

  it('have the same nested fields', () => {
    expect(schemaKeys(p.provider)).toEqual(keysOf<Provider>({ name: true, email: true, url: true }));
    expect(schemaKeys(p.backend)).toEqual(keysOf<BackendSpec>({ entry: true, image: true, port: true, healthPath: true, env: true, nativeAddons: true, childProcesses: true, workerThreads: true, listeners: true }));
    expect(schemaKeys(p.backend.properties.listeners.items)).toEqual(keysOf<ListenerSpec>({ name: true, description: true }));
    expect(schemaKeys(p.admission)).toEqual(keysOf<AdmissionSpec>({ validatePath: true, timeoutSeconds: true }));
    expect(schemaKeys(p.frontend)).toEqual(keysOf<FrontendSpec>({ remoteEntry: true, exposedModule: true, remoteName: true, assets: true }));
    expect(schemaKeys(p.permissions.items)).toEqual(
      keysOf<PolicyRule>({ verbs: true, apiGroups: true, resources: true, resourceNames: true, nonResourceURLs: true }),
    );
    expect(schemaKeys(p.apiServices.items)).toEqual(keysOf<APIServiceSpec>({ group: true, version: true }));
    expect(schemaKeys(p.reverseProxies.items)).toEqual(keysOf<ReverseProxySpec>({ prefix: true, stripPrefix: true, headers: true }));
    expect(schemaKeys(p.webhooks.items)).toEqual(keysOf<WebhookSpec>({ path: true, description: true }));
    expect(schemaKeys(p.roleTemplates.items)).toEqual(keysOf<RoleTemplateSpec>({ name: true, scope: true, displayName: true, description: true, dependsOn: true, rules: true }));
  });

  it('marks exactly the non-optional fields as required', () => {
    const required: Array<keyof ExtensionManifest> = [
      'apiVersion', 'kind', 'name', 'version', 'displayName', 'description', 'category', 'provider', 'license', 'engines',
    ];
    expect([...extensionManifestSchema.required].sort()).toEqual([...required].sort());
  });
});

describe('parseManifestYaml', () => {
  it('parses and validates YAML text', () => {
    const result = parseManifestYaml(stringify(fullManifest()));
    expect(result.valid).toBe(true);
    expect(result.manifest?.name).toBe('devops');
  });

  it('reports syntax errors with their line and column', () => {
    const text = 'apiVersion: mortise.io/v1alpha1\nkind: Extension\nname: [unclosed\n';
    const result = parseManifestYaml(text);
    expect(result.valid).toBe(false);
    expect(result.errors[0]?.path).toBe('/');
    expect(result.errors[0]?.message).toMatch(/^YAML syntax error at line \d+, column \d+: /);
  });

  it('reports duplicate keys with the line of the duplicate', () => {
    const result = parseManifestYaml('name: a\nversion: 1.0.0\nname: b\n');
    expect(result.errors).toEqual([{ path: '/', message: expect.stringMatching(/line 3, column 1: Map keys must be unique/) }]);
  });

  it('refuses alias bombs instead of expanding them', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const result = parseManifestYaml(lines.join('\n'));
    expect(result.valid).toBe(false);
    expect(result.errors[0]?.message).toMatch(/alias/i);
  });

  it('reports an unresolved tag as a problem, and prints nothing (a package is untrusted input)', () => {
    const written: string[] = [];
    const emit = process.emitWarning.bind(process);
    const write = process.stderr.write.bind(process.stderr);
    process.emitWarning = ((w: string | Error) => void written.push(String(w))) as typeof process.emitWarning;
    process.stderr.write = ((chunk: string | Uint8Array) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      const result = parseManifestYaml(`${stringify(minimalManifest())}x-tagged: !shout hello\n`);
      expect(result.valid).toBe(false);
      expect(result.errors[0]?.message).toMatch(/Unresolved tag: !shout/);
    } finally {
      process.emitWarning = emit;
      process.stderr.write = write;
    }
    expect(written).toEqual([]);
  });

  it('reports several documents as an error', () => {
    const result = parseManifestYaml(`${stringify(minimalManifest())}---\n${stringify(minimalManifest())}`);
    expect(result.valid).toBe(false);
    expect(result.errors[0]?.message).toMatch(/multiple documents/i);
  });
});

describe('loadManifestFromDir', () => {
  it('accepts a directory that has every file the manifest names', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeExtensionDir(dir);
      const result = await loadManifestFromDir(dir);
      expect(result.errors).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('lists every missing file together with the schema problems', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeExtensionDir(dir, fullManifest({ version: 'one', readme: 'docs/GUIDE.md', resources: ['crds/pipelines.yaml', 'crds/missing.yaml'] }), {});
      const result = await loadManifestFromDir(dir);
      expect(result.valid).toBe(false);
      expect(result.errors).toEqual(
        expect.arrayContaining([
          { path: '/version', message: expect.stringContaining('valid semver version') },
          { path: '/readme', message: 'file "docs/GUIDE.md" does not exist in the extension directory' },
          { path: '/resources/1', message: 'file "crds/missing.yaml" does not exist in the extension directory' },
        ]),
      );
    } finally {
      await cleanup();
    }
  });

  it('requires resources to be CustomResourceDefinitions', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await writeExtensionDir(dir, fullManifest(), { 'crds/pipelines.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' });
      const result = await loadManifestFromDir(dir);
      expect(result.errors).toEqual([
        { path: '/resources/0', message: 'document 1 of "crds/pipelines.yaml" must be an apiextensions.k8s.io/v1 CustomResourceDefinition' },
      ]);
    } finally {
      await cleanup();
    }
  });

  it('says so when there is no extension.yaml', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const result = await loadManifestFromDir(dir);
      expect(result.errors).toEqual([{ path: '/', message: `extension.yaml not found in ${dir}` }]);
    } finally {
      await cleanup();
    }
  });
});
