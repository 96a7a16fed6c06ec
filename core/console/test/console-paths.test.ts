import { describe, expect, it } from 'vitest';
import { extensionBase, joinPath, matchRoute, scopeOf } from '../src/extensions/paths.js';

// Where extension pages live and how the console matches them.

describe('console paths', () => {
  it('places an extension page by level, only where the scope has what the level needs', () => {
    expect(extensionBase('platform', 'hello-world', {})).toBe('/x/hello-world');
    expect(extensionBase(undefined, 'hello-world', { workspace: 'ws1' })).toBe('/x/hello-world');
    expect(extensionBase('workspace', 'devops', { workspace: 'ws1' })).toBe('/workspaces/ws1/x/devops');
    expect(extensionBase('workspace', 'devops', {})).toBeUndefined();
    expect(extensionBase('namespace', 'logging', { workspace: 'ws1' })).toBeUndefined();
    expect(extensionBase('namespace', 'logging', { workspace: 'ws1', namespace: 'dev' })).toBe('/workspaces/ws1/namespaces/dev/x/logging');
    expect(joinPath('/x/devops', '/runs/')).toBe('/x/devops/runs/');
    expect(joinPath('/x/devops', '')).toBe('/x/devops');
  });

  it('matches route patterns with parameters and a trailing wildcard', () => {
    expect(matchRoute('', '')).toBe(true);
    expect(matchRoute('', 'runs')).toBe(false);
    expect(matchRoute('runs/:id', 'runs/42')).toBe(true);
    expect(matchRoute('runs/:id', 'runs/42/logs')).toBe(false);
    expect(matchRoute('runs/*', 'runs/42/logs')).toBe(true);
    expect(matchRoute('runs/*', 'pipelines/1')).toBe(false);
  });

  it('reads the workspace and namespace from the URL', () => {
    expect(scopeOf('/')).toEqual({});
    expect(scopeOf('/workspaces/ws1')).toEqual({ workspace: 'ws1', namespace: undefined });
    expect(scopeOf('/workspaces/ws1/namespaces/dev/x/logging')).toEqual({ workspace: 'ws1', namespace: 'dev' });
    expect(scopeOf('/x/hello-world')).toEqual({});
  });
});
