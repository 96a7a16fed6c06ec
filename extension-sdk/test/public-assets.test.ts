import { describe, expect, it } from 'vitest';
import { isPublicAsset, publicAssets, validateManifest, type ExtensionManifest } from '../src/index.js';
import { fullManifest } from './helpers/fixtures.js';

const manifest = (overrides: Record<string, unknown>): ExtensionManifest => {
  const result = validateManifest(fullManifest(overrides));
  if (!result.valid) throw new Error(JSON.stringify(result.errors));
  return result.manifest;
};

describe('public assets: what of a package browsers may load', () => {
  it('serves the frontend directory, the icon and the screenshots, and nothing else', () => {
    const assets = publicAssets(manifest({ frontend: { remoteEntry: 'dist/ui/remoteEntry.js', exposedModule: './index', assets: 'dist/ui' } }));
    for (const path of ['dist/ui/remoteEntry.js', 'dist/ui/chunks/app.3f9a1c2b.js', 'dist/ui/style.css', 'assets/icon.svg', 'assets/shot-1.png']) {
      expect(isPublicAsset(assets, path), path).toBe(true);
    }
    for (const path of [
      'dist/server.js', 'dist/server.js.map', 'package.json', 'extension.yaml', 'README.md', 'src/server.ts', 'dist/other.js',
      'dist/ui/.env', 'dist/ui/.git/config', 'dist/ui/node_modules/x/index.js', 'assets/other.png', 'dist/ui', 'dist/ui/',
      'dist/ui/../server.js', 'dist/ui/./remoteEntry.js', 'dist/ui//remoteEntry.js', '/dist/ui/remoteEntry.js', 'dist\\ui\\remoteEntry.js', 'dist/ui/a\0.js',
    ]) {
      expect(isPublicAsset(assets, path), path).toBe(false);
    }
  });

  it('defaults the directory to the remote entry\'s, and never serves the backend entry or its map from it', () => {
    const assets = publicAssets(manifest({}));
    expect(assets.directory).toBe('dist');
    expect(isPublicAsset(assets, 'dist/remoteEntry.js')).toBe(true);
    expect(isPublicAsset(assets, 'dist/server.js')).toBe(false);
    expect(isPublicAsset(assets, 'dist/server.js.map')).toBe(false);
  });

  it('a remote entry at the package root publishes only itself', () => {
    const assets = publicAssets(manifest({ frontend: { remoteEntry: 'remoteEntry.js', exposedModule: './index' } }));
    expect(assets.directory).toBeUndefined();
    expect(isPublicAsset(assets, 'remoteEntry.js')).toBe(true);
    expect(isPublicAsset(assets, 'package.json')).toBe(false);
    expect(isPublicAsset(assets, 'dist/server.js')).toBe(false);
  });

  it('an extension without a frontend publishes its icon and screenshots only; URLs are not package files', () => {
    const assets = publicAssets(manifest({ frontend: undefined }));
    expect([...assets.files].sort()).toEqual(['assets/icon.svg', 'assets/shot-1.png']);
    expect(isPublicAsset(assets, 'dist/remoteEntry.js')).toBe(false);
  });
});
