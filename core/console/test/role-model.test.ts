import { describe, expect, it } from 'vitest';
import { groupByModule, neededBy, resolvedRules, roleObject, templatesFor, withDependencies, type RoleTemplate } from '../src/pages/roles/role-model.js';

// The role editor's logic: which templates a scope offers, grouped by extension, their
// dependencies, the rules a role resolves to, and the object written.

const tpl = (name: string, labels: Record<string, string>, spec: Partial<RoleTemplate['spec']> = {}): RoleTemplate => ({
  metadata: { name, labels }, spec: { rules: [{ apiGroups: ['x.io'], resources: [name], verbs: ['get'] }], ...spec },
});
const ext = (e: string, scope: string) => ({ 'extensions.mortise.io/extension': e, 'iam.mortise.io/scope': scope });
const all = [
  tpl('devops-view', ext('devops', 'namespace')),
  tpl('devops-run', ext('devops', 'namespace'), { dependsOn: ['devops-view'] }),
  tpl('devops-deploy', ext('devops', 'namespace'), { dependsOn: ['devops-run'] }),
  tpl('mesh-admin', ext('mesh', 'workspace')),
  tpl('users-admin', { 'iam.mortise.io/scope': 'global' }),
  tpl('devops-proxy-access', { 'extensions.mortise.io/extension': 'devops', 'iam.mortise.io/aggregate-to-authenticated': 'true' }, { rules: [{ nonResourceURLs: ['/proxy/devops/*'], verbs: ['get'] }] }),
];
const byName = new Map(all.map((t) => [t.metadata.name!, t]));

describe('role editor model', () => {
  it('offers a template to roles of its scope or wider, never the unscoped machinery', () => {
    const names = (level: 'platform' | 'workspace' | 'namespace') =>
      templatesFor(level === 'platform' ? { level } : level === 'workspace' ? { level, workspace: 'w' } : { level, workspace: 'w', namespace: 'n' }, all).map((t) => t.metadata.name).sort();
    expect(names('namespace')).toEqual(['devops-deploy', 'devops-run', 'devops-view']);
    expect(names('workspace')).toEqual(['devops-deploy', 'devops-run', 'devops-view', 'mesh-admin']);
    expect(names('platform')).toEqual(['devops-deploy', 'devops-run', 'devops-view', 'mesh-admin', 'users-admin']);
  });

  it('groups by extension, the core\'s own first', () => {
    expect(groupByModule(all.slice(0, 5)).map((g) => [g.module, g.templates.map((t) => t.metadata.name)])).toEqual([
      ['', ['users-admin']], ['devops', ['devops-deploy', 'devops-run', 'devops-view']], ['mesh', ['mesh-admin']],
    ]);
  });

  it('follows dependencies transitively and says what needs a template', () => {
    expect([...withDependencies('devops-deploy', byName)].sort()).toEqual(['devops-deploy', 'devops-run', 'devops-view']);
    const selected = new Set(['devops-deploy', 'devops-run', 'devops-view']);
    expect(neededBy('devops-view', selected, byName).sort()).toEqual(['devops-deploy', 'devops-run']);
    expect(neededBy('devops-deploy', selected, byName)).toEqual([]);
  });

  it('resolves to the role\'s own rules and its templates\', without URL rules outside the platform', () => {
    const own = [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }];
    const ns = { level: 'namespace', workspace: 'w', namespace: 'n' } as const;
    expect(resolvedRules(ns, own, ['devops-view', 'devops-proxy-access', 'devops-view'], byName)).toEqual([own[0], all[0]!.spec.rules[0]]);
    expect(resolvedRules({ level: 'platform' }, [], ['devops-proxy-access'], byName)).toEqual(all[5]!.spec.rules);
  });

  it('writes a workspace role labelled with its workspace, keeping the rest of the role', () => {
    const base = { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'WorkspaceRole', metadata: { name: 'r', resourceVersion: '7', labels: { a: 'b' } }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['x'] }], aggregationRoleTemplates: { roleSelector: { matchLabels: { k: 'v' } } } };
    expect(roleObject({ level: 'workspace', workspace: 'team' }, base, 'r', 'Runner', ['devops-run'])).toEqual({
      apiVersion: 'iam.mortise.io/v1alpha1', kind: 'WorkspaceRole',
      metadata: { name: 'r', resourceVersion: '7', labels: { a: 'b', 'tenant.mortise.io/workspace': 'team' }, annotations: { 'iam.mortise.io/display-name': 'Runner' } },
      rules: base.rules, aggregationRoleTemplates: { roleSelector: { matchLabels: { k: 'v' } }, templateNames: ['devops-run'] },
    });
  });
});
