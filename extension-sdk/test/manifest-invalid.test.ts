import { describe, expect, it } from 'vitest';
import { validateManifest } from '../src/index.js';
import { fullManifest } from './helpers/fixtures.js';

type Case = [description: string, manifest: Record<string, unknown>, path: string, message: RegExp];

const m = fullManifest;
const without = (key: string) => {
  const copy = fullManifest();
  delete copy[key];
  return copy;
};

const cases: Case[] = [
  ['name that is not a DNS-1123 label', m({ name: 'Dev_Ops' }), '/name', /must be a DNS-1123 label .*got "Dev_Ops"/],
  ['name longer than 63 characters', m({ name: 'a'.repeat(64) }), '/name', /at most 63 characters/],
  ['version that is not semver', m({ version: '1.0' }), '/version', /valid semver version .*got "1.0"/],
  ['version with a leading v', m({ version: 'v1.2.0' }), '/version', /canonical form "1.2.0"/],
  ['engines.mortise that is not a range', m({ engines: { mortise: '^foo' } }), '/engines/mortise', /must be a valid semver range, got "\^foo"/],
  ['dependency range that is not a range', m({ dependencies: { logging: 'latest' } }), '/dependencies/logging', /valid semver range, got "latest"/],
  ['dependency on itself', m({ dependencies: { devops: '^1.0.0' } }), '/dependencies/devops', /cannot depend on itself/],
  ['dependency name that is not a label', m({ dependencies: { Logging: '^1.0.0' } }), '/dependencies/Logging', /key "Logging" is invalid: it must be a DNS-1123 label/],
  ['missing license', without('license'), '/license', /^is required$/],
  ['missing engines.mortise', m({ engines: {} }), '/engines/mortise', /^is required$/],
  ['wrong apiVersion', m({ apiVersion: 'v1' }), '/apiVersion', /must be "mortise.io\/v1alpha1", got "v1"/],
  ['wrong kind', m({ kind: 'Plugin' }), '/kind', /must be "Extension"/],
  ['keywords as a string', m({ keywords: 'ci' }), '/keywords', /must be an array, got "ci"/],
  ['duplicate keywords', m({ keywords: ['ci', 'ci'] }), '/keywords', /must not contain duplicates/],
  ['port as a string', m({ backend: { entry: 'dist/server.js', port: '8080' } }), '/backend/port', /must be an integer, got "8080"/],
  ['port out of range', m({ backend: { entry: 'dist/server.js', port: 70000 } }), '/backend/port', /must be <= 65535/],
  ['backend with entry and image', m({ backend: { entry: 'dist/server.js', image: 'x:1' } }), '/backend', /not both/],
  ['backend with neither entry nor image', m({ backend: { port: 80 } }), '/backend', /must set "entry"/],
  ['backend entry escaping the package', m({ backend: { entry: '../server.js' } }), '/backend/entry', /escapes the package root/],
  ['absolute backend entry', m({ backend: { entry: '/usr/bin/node' } }), '/backend/entry', /is an absolute path/],
  ['displayName map without en', m({ displayName: { zh: '开发' } }), '/displayName/en', /^is required$/],
  ['displayName with a bad language tag', m({ displayName: { en: 'x', EN_us: 'y' } }), '/displayName/EN_us', /language tag/],
  ['empty description', m({ description: '' }), '/description', /must not be empty/],
  ['description of the wrong type', m({ description: 42 }), '/description', /must be a string or an object, got 42/],
  ['category that is not a label', m({ category: 'CI CD' }), '/category', /DNS-1123 label/],
  ['provider without a name', m({ provider: { email: 'a@b.example' } }), '/provider/name', /^is required$/],
  ['provider email that is not an email', m({ provider: { name: 'Acme', email: 'nope' } }), '/provider/email', /valid email address/],
  ['icon over plain http', m({ icon: 'http://cdn.example/icon.png' }), '/icon', /relative path in the package or an https URL/],
  ['screenshot escaping the package', m({ screenshots: ['../../etc/passwd'] }), '/screenshots/0', /escapes the package root/],
  ['license with odd characters', m({ license: 'MIT; rm -rf /' }), '/license', /SPDX license expression/],
  ['resource that is not YAML', m({ resources: ['crds/pipelines.json'] }), '/resources/0', /must be a YAML file/],
  ['apiService group without a dot', m({ apiServices: [{ group: 'devops', version: 'v1' }] }), '/apiServices/0/group', /subdomain containing at least one dot/],
  ['apiService version that is not a Kubernetes version', m({ apiServices: [{ group: 'a.example', version: '1.0' }] }), '/apiServices/0/version', /API version such as "v1"/],
  ['duplicate apiService groups', m({ apiServices: [{ group: 'a.example', version: 'v1' }, { group: 'a.example', version: 'v2' }] }), '/apiServices/1/group', /duplicates the group "a.example" of \/apiServices\/0/],
  ['apiService group of the core', m({ apiServices: [{ group: 'iam.mortise.io', version: 'v1alpha1' }] }), '/apiServices/0/group', /reserved/],
  ['reverse proxy under another extension', m({ reverseProxies: [{ prefix: '/proxy/logging/' }] }), '/reverseProxies/0/prefix', /must start with "\/proxy\/devops\/"/],
  ['reverse proxy under a core path', m({ reverseProxies: [{ prefix: '/apis/devops/' }] }), '/reverseProxies/0/prefix', /which the core serves/],
  ['reverse proxy prefix without a trailing slash', m({ reverseProxies: [{ prefix: '/proxy/devops' }] }), '/reverseProxies/0/prefix', /must end with "\/"/],
  ['webhook under another extension', m({ webhooks: [{ path: '/hooks/logging/', description: 'x' }] }), '/webhooks/0/path', /must start with "\/hooks\/devops\/"/],
  ['webhook outside /hooks/', m({ webhooks: [{ path: '/proxy/devops/', description: 'x' }] }), '/webhooks/0/path', /must start with "\/hooks\/devops\/"/],
  ['webhook without a trailing slash', m({ webhooks: [{ path: '/hooks/devops', description: 'x' }] }), '/webhooks/0/path', /must end with "\/"/],
  ['webhook without a description', m({ webhooks: [{ path: '/hooks/devops/' }] }), '/webhooks/0/description', /^is required$/],
  ['listener without a description', m({ backend: { entry: 'dist/server.js', listeners: [{ name: 'dataplane' }] } }), '/backend/listeners/0/description', /^is required$/],
  ['listener name that is not a label', m({ backend: { entry: 'dist/server.js', listeners: [{ name: 'Data_Plane', description: 'x' }] } }), '/backend/listeners/0/name', /pattern/],
  ['two listeners of one name', m({ backend: { entry: 'dist/server.js', listeners: [{ name: 'a', description: 'x' }, { name: 'a', description: 'y' }] } }), '/backend/listeners/1/name', /duplicates the name "a"/],
  ['admission path that is not a path', m({ admission: { validatePath: 'validate' } }), '/admission/validatePath', /pattern/],
  ['admission without CRDs', { ...without('resources'), admission: { validatePath: '/validate' } }, '/admission', /CRDs in "resources"/],
  ['admission without a backend', { ...without('backend'), admission: { validatePath: '/validate' } }, '/admission', /needs a backend/],
  ['webhook without a backend', { ...without('backend'), webhooks: [{ path: '/hooks/devops/', description: 'x' }] }, '/webhooks', /need a backend/],
  ['role template with a URL rule', m({ roleTemplates: [{ name: 'view', displayName: 'View', rules: [{ verbs: ['get'], nonResourceURLs: ['/metrics'] }] }] }), '/roleTemplates/0/rules/0/nonResourceURLs', /resource rules only/],
  ['role template over every group', m({ roleTemplates: [{ name: 'view', displayName: 'View', rules: [{ apiGroups: ['*'], resources: ['pipelines'], verbs: ['get'] }] }] }), '/roleTemplates/0/rules/0/apiGroups', /not "\*"/],
  ['role template without groups', m({ roleTemplates: [{ name: 'view', displayName: 'View', rules: [{ resources: ['pipelines'], verbs: ['get'] }] }] }), '/roleTemplates/0/rules/0/apiGroups', /is required/],
  ['role template named like the core\'s', m({ roleTemplates: [{ name: 'proxy-access', displayName: 'P', rules: [{ apiGroups: ['devops.mortise.io'], resources: ['pipelines'], verbs: ['get'] }] }] }), '/roleTemplates/0/name', /reserved/],
  ['role templates with one name', m({ roleTemplates: [0, 1].map(() => ({ name: 'view', displayName: 'V', rules: [{ apiGroups: ['devops.mortise.io'], resources: ['pipelines'], verbs: ['get'] }] })) }), '/roleTemplates/1/name', /duplicates/],
  ['role template depending on an unknown one', m({ roleTemplates: [{ name: 'run', displayName: 'R', dependsOn: ['view'], rules: [{ apiGroups: ['devops.mortise.io'], resources: ['pipelines'], verbs: ['get'] }] }] }), '/roleTemplates/0/dependsOn/0', /names no template of this manifest \("view"\)/],
  ['role template depending on itself', m({ roleTemplates: [{ name: 'run', displayName: 'R', dependsOn: ['run'], rules: [{ apiGroups: ['devops.mortise.io'], resources: ['pipelines'], verbs: ['get'] }] }] }), '/roleTemplates/0/dependsOn/0', /itself/],
  ['role template with a bad scope', m({ roleTemplates: [{ name: 'view', scope: 'cluster', displayName: 'V', rules: [{ apiGroups: ['devops.mortise.io'], resources: ['pipelines'], verbs: ['get'] }] }] }), '/roleTemplates/0/scope', /must be one of/],
  ['reverse proxy under /hooks/', m({ reverseProxies: [{ prefix: '/hooks/devops/' }] }), '/reverseProxies/0/prefix', /webhooks/],
  ['reverse proxy prefix with ".."', m({ reverseProxies: [{ prefix: '/proxy/devops/../x/' }] }), '/reverseProxies/0/prefix', /"\.\." segments/],
  ['rule with resources and nonResourceURLs', m({ permissions: [{ apiGroups: [''], resources: ['pods'], nonResourceURLs: ['/x'], verbs: ['get'] }] }), '/permissions/0', /not both/],
  ['rule without verbs', m({ permissions: [{ apiGroups: [''], resources: ['pods'] }] }), '/permissions/0/verbs', /^is required$/],
  ['frontend without exposedModule', m({ frontend: { remoteEntry: 'dist/remoteEntry.js' } }), '/frontend/exposedModule', /^is required$/],
  ['exposedModule without "./"', m({ frontend: { remoteEntry: 'dist/remoteEntry.js', exposedModule: 'index' } }), '/frontend/exposedModule', /starting with "\.\/"/],
  ['frontend assets escaping the package', m({ frontend: { remoteEntry: 'dist/remoteEntry.js', exposedModule: './index', assets: '../dist' } }), '/frontend/assets', /escapes the package root/],
  ['remote entry outside frontend assets', m({ frontend: { remoteEntry: 'dist/remoteEntry.js', exposedModule: './index', assets: 'dist/ui' } }), '/frontend/remoteEntry', /must lie inside frontend.assets \("dist\/ui"\)/],
  ['config schema that does not compile', m({ configSchema: { type: 'objekt' }, config: undefined }), '/configSchema', /must be a valid JSON Schema/],
  ['default config not matching the config schema', m({ config: { replicas: 0, mode: 'safe' } }), '/config/replicas', /does not match configSchema: must be >= 1/],
  ['unknown top-level field', m({ displayname: 'typo' }), '/displayname', /unknown field "displayname"/],
  ['unknown nested field', m({ backend: { entry: 'dist/server.js', healthcheck: '/hz' } }), '/backend/healthcheck', /unknown field "healthcheck"/],
];

describe('validateManifest on invalid manifests', () => {
  it.each(cases)('%s', (_description, manifest, path, message) => {
    const result = validateManifest(manifest);
    expect(result.valid).toBe(false);
    const atPath = result.errors.filter((e) => e.path === path);
    expect(atPath, `problems: ${JSON.stringify(result.errors)}`).not.toEqual([]);
    expect(atPath.some((e) => message.test(e.message)), `problems at ${path}: ${JSON.stringify(atPath)}`).toBe(true);
  });

  it('lists every problem, not just the first', () => {
    const result = validateManifest(m({ name: 'X', version: 'one', engines: { mortise: '^foo' }, keywords: 7, unknown: true }));
    expect(result.errors.map((e) => e.path).sort()).toEqual(['/engines/mortise', '/keywords', '/name', '/unknown', '/version']);
  });

  it('describes values that are not objects at the root', () => {
    expect(validateManifest(null).errors).toEqual([{ path: '/', message: 'must be an object, got null' }]);
    expect(validateManifest(['x']).errors).toEqual([{ path: '/', message: 'must be an object, got ["x"]' }]);
  });
});
