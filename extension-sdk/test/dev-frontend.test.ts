import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { startDevFrontend, type DevFrontend } from '../src/cli/dev-frontend.js';

// The frontend half of `mortise-ext dev`: a real webpack watch of an extension's console module in
// a temp dir, served over HTTP from 127.0.0.1, rebuilt when a source changes.

describe('mortise-ext dev: the frontend', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mortise-dev-frontend-'));
  let frontend: DevFrontend | undefined;
  afterAll(async () => {
    await frontend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds, serves the build (never cached, nothing outside it) and rebuilds on change', async () => {
    const files: Record<string, string> = {
      'extension.yaml': stringify({
        apiVersion: 'mortise.io/v1alpha1', kind: 'Extension', name: 'greeter', version: '1.0.0', displayName: 'Greeter', description: 'greets',
        category: 'examples', provider: { name: 'Tests' }, license: 'MIT', engines: { mortise: '>=0.1.0' },
        frontend: { remoteEntry: 'dist/frontend/remoteEntry.js', exposedModule: './extension' },
      }),
      'package.json': JSON.stringify({ name: 'greeter', private: true, type: 'module' }),
      'frontend/index.tsx': "export default { navItems: [{ id: 'g', title: 'first words', path: '' }] };\n",
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    const rebuilt: Array<{ errors: string[] }> = [];
    frontend = await startDevFrontend(dir, (_ms, errors) => rebuilt.push({ errors }));
    expect(frontend.directory).toBe('dist/frontend');
    expect(frontend.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const entry = await fetch(`${frontend.url}/remoteEntry.js`);
    expect(entry.status).toBe(200);
    expect(entry.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(entry.headers.get('cache-control')).toBe('no-store');
    expect(await entry.text()).toContain('greeter');
    /** Every file the build serves, concatenated (the exposed module is in a chunk of its own). */
    const served = async () => {
      const { readdirSync } = await import('node:fs');
      const names = readdirSync(join(dir, 'dist', 'frontend')).filter((n) => n.endsWith('.js'));
      return (await Promise.all(names.map(async (n) => (await fetch(`${frontend!.url}/${n}`)).text()))).join('\n');
    };
    expect(await served()).toContain('first words');
    for (const path of ['/../extension.yaml', '/%2e%2e/extension.yaml', '/nope.js']) {
      expect((await fetch(`${frontend.url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${frontend.url}/remoteEntry.js`, { method: 'POST' })).status).toBe(404);

    writeFileSync(join(dir, 'frontend', 'index.tsx'), "export default { navItems: [{ id: 'g', title: 'second words', path: '' }] };\n");
    await expect.poll(() => rebuilt.length, { timeout: 60_000, interval: 50 }).toBeGreaterThan(0);
    expect(rebuilt[0]!.errors).toEqual([]);
    const now = await served();
    expect(now).toContain('second words');
    expect(now).not.toContain('first words');
  }, 120_000);
});
