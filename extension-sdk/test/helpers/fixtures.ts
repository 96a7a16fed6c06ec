import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';

/** A manifest using every field, valid as it stands. */
export function fullManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'mortise.io/v1alpha1',
    kind: 'Extension',
    name: 'devops',
    version: '1.2.0',
    displayName: { en: 'DevOps', zh: '开发运维' },
    description: 'Pipelines and builds',
    category: 'ci-cd',
    keywords: ['ci', 'pipelines'],
    provider: { name: 'Acme', email: 'ext@acme.example', url: 'https://acme.example' },
    icon: 'assets/icon.svg',
    screenshots: ['assets/shot-1.png', 'https://cdn.acme.example/shot-2.png'],
    license: 'Apache-2.0',
    homepage: 'https://acme.example/devops',
    readme: 'README.md',
    engines: { mortise: '>=0.1.0 <1.0.0' },
    dependencies: { logging: '^1.0.0' },
    permissions: [
      { apiGroups: [''], resources: ['pods', 'services'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['builder'], verbs: ['update'] },
      { nonResourceURLs: ['/healthz'], verbs: ['get'] },
    ],
    resources: ['crds/pipelines.yaml'],
    backend: { entry: 'dist/server.js', port: 8080, healthPath: '/healthz', env: { LOG_LEVEL: 'info' } },
    frontend: { remoteEntry: 'dist/remoteEntry.js', exposedModule: './index', remoteName: 'devops' },
    apiServices: [{ group: 'devops.mortise.io', version: 'v1alpha1' }],
    reverseProxies: [{ prefix: '/proxy/devops/', stripPrefix: true, headers: { set: { 'X-Extension': 'devops' }, remove: ['Cookie'] } }],
    configSchema: {
      type: 'object',
      properties: { replicas: { type: 'integer', minimum: 1 }, mode: { enum: ['fast', 'safe'] } },
      additionalProperties: false,
    },
    config: { replicas: 2, mode: 'safe' },
    ...overrides,
  };
}

/** The smallest valid manifest. */
export function minimalManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'mortise.io/v1alpha1',
    kind: 'Extension',
    name: 'hello',
    version: '1.0.0',
    displayName: 'Hello',
    description: 'Says hello',
    category: 'demo',
    provider: { name: 'Acme' },
    license: 'MIT',
    engines: { mortise: '>=0.1.0' },
    ...overrides,
  };
}

export const CRD_YAML = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: pipelines.devops.mortise.io
spec:
  group: devops.mortise.io
  names: {kind: Pipeline, plural: pipelines}
  scope: Namespaced
  versions: [{name: v1alpha1, served: true, storage: true}]
`;

/** Writes an extension directory holding `manifest` and every file it names. */
export async function writeExtensionDir(dir: string, manifest: Record<string, unknown> = fullManifest(), extra: Record<string, string | Buffer> = {}): Promise<string> {
  const files: Record<string, string | Buffer> = {
    'extension.yaml': stringify(manifest),
    'README.md': `# ${String(manifest.name)}\n\nBuilds things.\n`,
    'assets/icon.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
    'assets/shot-1.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
    'crds/pipelines.yaml': CRD_YAML,
    'dist/server.js': 'export {};\n',
    'dist/remoteEntry.js': 'var devops;\n',
    ...extra,
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir(prefix = 'mortise-sdk-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
