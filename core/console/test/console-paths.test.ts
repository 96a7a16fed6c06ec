import { describe, expect, it } from 'vitest';
import { extensionBase, joinPath, matchRoute, routeParams, scopeOf } from '../src/extensions/paths.js';

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

  it('gives the page the values of its route\'s :param segments and the rest under *', () => {
    expect(routeParams('', '')).toEqual({});
    expect(routeParams('runs/:run', 'runs/build-7')).toEqual({ run: 'build-7' });
    expect(routeParams('projects/:project/pipelines/:pipeline', 'projects/web/pipelines/release%20build')).toEqual({ project: 'web', pipeline: 'release build' });
    expect(routeParams('files/*', 'files/a/b%2Fc')).toEqual({ '*': 'a/b/c' });
    expect(routeParams('runs/:run/*', 'runs/7')).toEqual({ run: '7', '*': '' });
    expect(routeParams('runs/:run', 'runs/%E0%A4%A')).toEqual({ run: '%E0%A4%A' });
    expect(routeParams('runs/:run', 'pipelines/7')).toBeUndefined();
    expect(routeParams('runs/:run', 'runs/7/logs')).toBeUndefined();
  });

  it('reads the workspace and namespace from the URL', () => {
    expect(scopeOf('/')).toEqual({});
    expect(scopeOf('/workspaces/ws1')).toEqual({ workspace: 'ws1', namespace: undefined });
    expect(scopeOf('/workspaces/ws1/namespaces/dev/x/logging')).toEqual({ workspace: 'ws1', namespace: 'dev' });
    expect(scopeOf('/x/hello-world')).toEqual({});
  });
});
