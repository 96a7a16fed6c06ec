import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.js';
import { allows, sharedModules, type SubjectRules } from '../src/console/index.js';
import { packageOf } from '../src/console/shared-modules.js';
import { sharedRangeProblems } from '../src/federation/index.js';
import type { CliIO } from '../src/cli/io.js';

const consoleDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'core', 'console');

function collector(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A console-only extension in a temp dir. */
function extensionDir(o: { dependencies?: Record<string, string>; remoteEntry?: string; backendEntry?: string; files?: Record<string, string> } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-frontend-'));
  dirs.push(dir);
  const manifest: Record<string, unknown> = {
    apiVersion: 'mortise.io/v1alpha1', kind: 'Extension', name: 'greeter', version: '1.0.0', displayName: 'Greeter', description: 'greets',
    category: 'examples', provider: { name: 'Tests' }, license: 'MIT', engines: { mortise: '>=0.1.0' },
    frontend: { remoteEntry: o.remoteEntry ?? 'dist/frontend/remoteEntry.js', exposedModule: './extension' },
  };
  if (o.backendEntry) manifest.backend = { entry: o.backendEntry };
  writeFileSync(join(dir, 'extension.yaml'), stringify(manifest));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'greeter', private: true, type: 'module', dependencies: o.dependencies ?? {} }));
  const files = o.files ?? {
    'frontend/index.tsx': "import styles from './page.css';\nexport default { navItems: [{ id: 'g', title: 'Greeter', path: '' }], routes: [{ path: '', component: () => import('./Page.js') }], cls: styles.box };\n",
    'frontend/Page.tsx': "import { useApi } from '@mortise/extension-sdk/console';\nexport default function Page() { useApi(); return <p>hi</p>; }\n",
    'frontend/page.css': '.box { color: red; }\n',
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('shared modules', () => {
  it('lists the versions the console host actually installs', () => {
    // Where Node would find the package from the console (its own node_modules, then the root's).
    const installedVersion = (pkg: string) => {
      const file = [join(consoleDir, 'node_modules', pkg, 'package.json'), join(consoleDir, '..', '..', 'node_modules', pkg, 'package.json')].find((f) => existsSync(f))!;
      return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    };
    const host = JSON.parse(readFileSync(join(consoleDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const [module, shared] of Object.entries(sharedModules)) {
      const pkg = packageOf(module);
      const installed = installedVersion(pkg);
      expect(installed, module).toBe(shared.version);
      expect(semver.satisfies(shared.version, shared.requiredVersion), `${module} ${shared.requiredVersion}`).toBe(true);
      if (!pkg.startsWith('@mortise/')) expect(host.dependencies[pkg], `${pkg} pinned in core/console/package.json`).toBe(shared.version);
    }
  });

  it('names the module and both ranges when an extension asks for a version the console lacks', () => {
    expect(sharedRangeProblems({ react: '^19.0.0', '@mantine/core': '^8.0.0', lodash: '^4' })).toEqual([
      { module: 'react', extensionRange: '^19.0.0', hostVersion: '18.3.1', hostRange: '^18.3.0' },
    ]);
    expect(sharedRangeProblems({ react: '^18.2.0', 'react-router-dom': '>=6.20 <7', '@mortise/extension-sdk': 'workspace:*' })).toEqual([]);
  });
});

describe('mortise-ext build (the federation preset)', () => {
  it('refuses an extension whose shared ranges the console cannot satisfy', async () => {
    const dir = extensionDir({ dependencies: { react: '^19.0.0' } });
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', 'build', dir], io)).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/shared module "react": the extension asks for "\^19\.0\.0" but the console provides 18\.3\.1 \(remotes must accept "\^18\.3\.0"\)/);
    expect(existsSync(join(dir, 'dist'))).toBe(false);
  });

  it('refuses a remote entry in the directory of the backend code (it would be served to anyone)', async () => {
    const dir = extensionDir({ remoteEntry: 'dist/remoteEntry.js', backendEntry: 'dist/server.js' });
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', 'build', dir], io)).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/directory of the backend's code/);
  });

  it('builds a remote into its own directory, sharing the console singletons and scoping CSS to the extension', async () => {
    const dir = extensionDir({ dependencies: { react: '^18.2.0' } });
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', 'build', dir], io), io.stderr.join('\n')).toBe(0);
    const out = join(dir, 'dist', 'frontend');
    const files = readdirSync(out);
    expect(files).toContain('remoteEntry.js');
    const all = files.map((f) => readFileSync(join(out, f), 'utf8')).join('\n');
    expect(all).toMatch(/greeter__box__/);
    // React is the console's: no copy of it in the extension's files.
    expect(all).not.toMatch(/react\.production\.min\.js|__SECRET_INTERNALS_DO_NOT_USE_OR_YOU_WILL_BE_FIRED/);
    // Nor of the federation runtime: the remote entry uses the one the console provides (~88 KB when bundled).
    const remoteEntry = readFileSync(join(out, 'remoteEntry.js'), 'utf8');
    expect(remoteEntry).toContain('_FEDERATION_RUNTIME_CORE');
    expect(remoteEntry.length).toBeLessThan(40_000);
    expect(io.stdout.join('\n')).toMatch(/remote entry .*dist\/frontend\/remoteEntry\.js/);
  });

  it('refuses global CSS that could restyle the console', async () => {
    const dir = extensionDir({
      files: {
        'frontend/index.tsx': "import './global.css';\nexport default {};\n",
        'frontend/global.css': 'body { display: none; }\n',
      },
    });
    const io = collector();
    expect(await runCli(['node', 'mortise-ext', 'build', dir], io)).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/pure|local/i);
  });
});

describe('permission checks in the console runtime', () => {
  const rules: SubjectRules = {
    resourceRules: [
      { verbs: ['get', 'list', 'watch'], apiGroups: ['*'], resources: ['*'] },
      { verbs: ['create'], apiGroups: ['iam.mortise.io'], resources: ['users'] },
      { verbs: ['delete'], apiGroups: [''], resources: ['namespaces'], resourceNames: ['only-this'] },
    ],
    nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/proxy/hello-world/*'] }],
  };
  it('answers as the rules say', () => {
    expect(allows(rules, { verb: 'list', group: 'extensions.mortise.io', resource: 'installplans' })).toBe(true);
    expect(allows(rules, { verb: 'create', group: 'extensions.mortise.io', resource: 'installplans' })).toBe(false);
    expect(allows(rules, { verb: 'create', group: 'iam.mortise.io', resource: 'users' })).toBe(true);
    // A rule for one named object does not allow the verb in general.
    expect(allows(rules, { verb: 'delete', group: '', resource: 'namespaces' })).toBe(false);
    expect(allows(rules, { verb: 'get', path: '/proxy/hello-world/hello' })).toBe(true);
    expect(allows(rules, { verb: 'get', path: '/proxy/other/x' })).toBe(false);
  });
});
