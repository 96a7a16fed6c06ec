export const en = {
  appName: 'Mortise',
  login: {
    title: 'Sign in to Mortise', username: 'Username', password: 'Password', submit: 'Sign in', or: 'or', with: 'Sign in with {{name}}',
    failed: 'Sign-in failed',
  },
  nav: {
    home: 'Overview', extensionCenter: 'Extension Center', users: 'Users', roles: 'Roles', workspaces: 'Workspaces', namespaces: 'Namespaces',
    audit: 'Audit log', resources: 'Resources', account: 'My account', extensions: 'Extensions', platform: 'Platform', workspace: 'Workspace',
  },
  header: { logout: 'Log out', language: 'Language', workspace: 'Workspace', namespace: 'Namespace', allWorkspaces: 'No workspace' },
  home: { welcome: 'Welcome, {{name}}', intro: 'Everything here is composed of the extensions your administrator installed.', installed: 'Extensions in this console', none: 'No extension is enabled yet.' },
  extension: {
    failed: 'The extension "{{name}}" failed', retry: 'Retry', retrying: 'Retrying in {{seconds}} s', loading: 'Loading {{name}}…',
    notFound: 'No page here', notFoundText: 'No enabled extension provides this page.',
  },
  center: {
    title: 'Extension Center', search: 'Search extensions', category: 'Category', all: 'All', install: 'Install', installed: 'Installed',
    enable: 'Enable', disable: 'Disable', uninstall: 'Uninstall', upgrade: 'Upgrade to {{version}}', details: 'Details', version: 'Version',
    state: 'State', provider: 'Provider', noResults: 'No extension matches.', config: 'Configuration', repositories: 'Repositories', back: 'Back',
    readme: 'Read me', screenshots: 'Screenshots', save: 'Save', progress: 'Progress',
    configRefused: 'Configuration refused', noReadme: 'This extension has no README.', configSaved: 'Configuration saved; the extension restarts with it.',
  },
  resources: { filter: 'Filter kinds', kind: 'Kind', group: 'Group', scope: 'Scope', namespaced: 'Namespaced', cluster: 'Cluster', saved: 'Saved' },
  users: { email: 'Email', lastLogin: 'Last login' },
  workspaces: { members: 'Members', roles: 'Roles' },
  roles: {
    title: 'Roles — {{where}}', platform: 'platform', new: 'New role', edit: 'Edit', editing: 'Role {{name}}', templates: 'Templates',
    displayName: 'Display name', builtin: 'built-in', builtinNote: 'A built-in role: the core keeps its rules; build a new role instead.',
    noTemplates: 'No RoleTemplate is offered for roles here.', coreModule: 'Platform', dependsOn: 'Requires: {{names}}', neededBy: 'Needed by: {{names}}',
    missing: 'Named but no longer installed (grants nothing): {{names}}', resolves: 'Rules this role grants', members: 'Bound to',
    bindUser: 'Bind to user', bind: 'Bind',
  },
  audit: { user: 'User', time: 'Time', verb: 'Verb', outcome: 'Outcome' },
  common: { name: 'Name', created: 'Created', actions: 'Actions', cancel: 'Cancel', save: 'Save', delete: 'Delete', create: 'Create', loading: 'Loading…', error: 'Error', refresh: 'Refresh' },
  account: { title: 'My account', changePassword: 'Change password', current: 'Current password', new: 'New password', changed: 'Password changed' },
};
export type Messages = typeof en;
