import { AppShell, Burger, Group, Menu, NavLink, ScrollArea, SegmentedControl, Select, Text, Title, UnstyledButton } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { localize, useApi, useConsole, type AccessCheck } from '@mortise/extension-sdk/console';
import { lazy, Suspense, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { useExtensions } from '../extensions/ExtensionsContext.js';
import { ExtensionPage } from '../extensions/ExtensionPage.js';
import { extensionBase, joinPath } from '../extensions/paths.js';
import { languages, setLanguage } from '../i18n/i18n.js';
import { logout } from '../session/session.js';
import { AccessGate } from './AccessGate.js';
import { PageLoader } from './PageLoader.js';

const HomePage = lazy(() => import('../pages/HomePage.js'));
const ExtensionCenterPage = lazy(() => import('../pages/extension-center/ExtensionCenterPage.js'));
const NotFoundPage = lazy(() => import('../pages/NotFoundPage.js'));
const ResourcesPage = lazy(() => import('../pages/resources/ResourcesPage.js'));
const UsersPage = lazy(() => import('../pages/admin/UsersPage.js'));
const WorkspacesPage = lazy(() => import('../pages/admin/WorkspacesPage.js'));
const WorkspaceMembersPage = lazy(() => import('../pages/admin/WorkspacesPage.js').then((m) => ({ default: m.WorkspaceMembersPage })));
const AuditPage = lazy(() => import('../pages/admin/AuditPage.js'));
const AccountPage = lazy(() => import('../pages/AccountPage.js'));
const RolesPage = lazy(() => import('../pages/roles/RolesPage.js'));

interface HostNavItem {
  to: string;
  label: string;
  requires?: AccessCheck[];
}

export const adminChecks = {
  extensionCenter: [{ verb: 'create', group: 'extensions.mortise.io', resource: 'installplans' }],
  users: [{ verb: 'list', group: 'iam.mortise.io', resource: 'users' }],
  audit: [{ verb: 'list', group: 'audit.mortise.io', resource: 'events' }],
  resources: [{ verb: 'list', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' }],
} satisfies Record<string, AccessCheck[]>;

/** The frame: header (switcher, language, user), navigation (the host's and the extensions'), pages. */
export function Shell({ onSignedOut }: { onSignedOut: () => void }) {
  const { t, i18n } = useTranslation();
  const [opened, { toggle }] = useDisclosure();
  const runtime = useConsole();
  const extensions = useExtensions();
  const location = useLocation();
  const scope = runtime.scope;

  const hostItems: HostNavItem[] = [
    { to: '/', label: t('nav.home') },
    { to: '/workspaces', label: t('nav.workspaces') },
    { to: '/extension-center', label: t('nav.extensionCenter'), requires: adminChecks.extensionCenter },
    { to: '/users', label: t('nav.users'), requires: adminChecks.users },
    { to: '/resources', label: t('nav.resources'), requires: adminChecks.resources },
    { to: '/audit', label: t('nav.audit'), requires: adminChecks.audit },
    rolesNavItem(scope, t('nav.roles')),
  ];
  const extensionItems = extensions.flatMap((e) =>
    (e.module?.navItems ?? []).flatMap((item) => {
      const base = extensionBase(item.level, e.name, scope);
      if (!base || (item.level ?? 'platform') !== (scope.namespace ? 'namespace' : scope.workspace ? 'workspace' : 'platform')) return [];
      return [{ key: `${e.name}/${item.id}`, to: joinPath(base, item.path), label: localize(item.title, i18n.language), order: item.order ?? 100, requires: item.requires, extension: e.name }];
    }),
  ).sort((a, b) => a.order - b.order || a.label.localeCompare(b.label));
  const failed = extensions.filter((e) => e.state === 'failed');

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 240, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group>
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" />
            {/* elementtiming: the bench times when the console itself (not the loading placeholder) paints. */}
            <UnstyledButton component={Link} to="/"><Title order={4} {...{ elementtiming: 'console-header' }}>{t('appName')}</Title></UnstyledButton>
            <ScopeSwitcher />
          </Group>
          <Group>
            <SegmentedControl size="xs" value={i18n.language} onChange={setLanguage} data={languages} aria-label={t('header.language')} />
            <Menu position="bottom-end">
              <Menu.Target>
                <UnstyledButton data-testid="user-menu"><Text fw={500}>{runtime.user.displayName ?? runtime.user.username}</Text></UnstyledButton>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Item component={Link} to="/account">{t('nav.account')}</Menu.Item>
                <Menu.Item color="red" onClick={() => void logout().then(onSignedOut)}>{t('header.logout')}</Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" data-testid="navigation">
        <ScrollArea>
          {hostItems.map((item) => (
            <AccessGate key={item.to} checks={item.requires}>
              <NavLink component={Link} to={item.to} label={item.label} active={item.to === '/' ? location.pathname === '/' : location.pathname.startsWith(item.to)} />
            </AccessGate>
          ))}
          {(extensionItems.length > 0 || failed.length > 0) && <Text size="xs" c="dimmed" mt="md" mb={4} px="sm">{t('nav.extensions')}</Text>}
          {extensionItems.map((item) => (
            <AccessGate key={item.key} checks={item.requires}>
              <NavLink component={Link} to={item.to} label={item.label} active={location.pathname.startsWith(item.to)} data-extension={item.extension} />
            </AccessGate>
          ))}
          {failed.map((e) => (
            <NavLink key={e.name} component={Link} to={`/x/${e.name}`} label={e.name} c="red" description={t('extension.failed', { name: e.name })} data-extension={e.name} />
          ))}
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<PageLoader />}>
          <Routes>
            <Route path="/" element={<HomePage />} />
            <Route path="/extension-center/*" element={<AccessGate checks={adminChecks.extensionCenter}><ExtensionCenterPage /></AccessGate>} />
            <Route path="/users" element={<AccessGate checks={adminChecks.users}><UsersPage /></AccessGate>} />
            {/* Open to anyone: the API shows each user only what they may read (the nav item is for admins). */}
            <Route path="/resources/*" element={<ResourcesPage />} />
            <Route path="/audit" element={<AccessGate checks={adminChecks.audit}><AuditPage /></AccessGate>} />
            <Route path="/account" element={<AccountPage />} />
            <Route path="/workspaces" element={<WorkspacesPage />} />
            <Route path="/workspaces/:workspace/members" element={<WorkspaceMembersPage />} />
            {/* The role editor of each scope; the API decides who may read and write its roles. */}
            <Route path="/roles" element={<RolesPage />} />
            <Route path="/workspaces/:workspace/roles" element={<RolesPage />} />
            <Route path="/workspaces/:workspace/namespaces/:namespace/roles" element={<RolesPage />} />
            <Route path="/x/:ext/*" element={<ExtensionPage level="platform" />} />
            <Route path="/workspaces/:workspace" element={<HomePage />} />
            <Route path="/workspaces/:workspace/x/:ext/*" element={<ExtensionPage level="workspace" />} />
            <Route path="/workspaces/:workspace/namespaces/:namespace" element={<HomePage />} />
            <Route path="/workspaces/:workspace/namespaces/:namespace/x/:ext/*" element={<ExtensionPage level="namespace" />} />
            <Route path="*" element={<NotFoundPage />} />
          </Routes>
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

/** "Roles" of the scope the user is in: the platform's GlobalRoles, the workspace's WorkspaceRoles or the namespace's Roles. */
function rolesNavItem(scope: { workspace?: string; namespace?: string }, label: string): HostNavItem {
  const iam = 'iam.mortise.io';
  if (scope.workspace && scope.namespace) {
    return { to: `/workspaces/${encodeURIComponent(scope.workspace)}/namespaces/${encodeURIComponent(scope.namespace)}/roles`, label, requires: [{ verb: 'list', group: iam, resource: 'roles' }] };
  }
  if (scope.workspace) return { to: `/workspaces/${encodeURIComponent(scope.workspace)}/roles`, label, requires: [{ verb: 'list', group: iam, resource: 'workspaceroles' }] };
  return { to: '/roles', label, requires: [{ verb: 'list', group: iam, resource: 'globalroles' }] };
}

interface Named {
  metadata: { name?: string };
}

/** Workspace and namespace switcher: the lists the core gives this user (only their own). */
function ScopeSwitcher() {
  const { t } = useTranslation();
  const api = useApi();
  const { scope } = useConsole();
  const navigate = useNavigate();
  const [workspaces, setWorkspaces] = useState<string[]>([]);
  const [namespaces, setNamespaces] = useState<string[]>([]);
  useEffect(() => {
    api.request<{ items: Named[] }>('/kapis/tenant.mortise.io/v1alpha1/workspaces').then((l) => setWorkspaces(l.items.map((w) => w.metadata.name!)), () => setWorkspaces([]));
  }, [api]);
  useEffect(() => {
    if (!scope.workspace) return setNamespaces([]);
    api.request<{ items: Named[] }>(`/kapis/tenant.mortise.io/v1alpha1/workspaces/${encodeURIComponent(scope.workspace)}/namespaces`).then((l) => setNamespaces(l.items.map((n) => n.metadata.name!)), () => setNamespaces([]));
  }, [api, scope.workspace]);
  return (
    <Group gap="xs" visibleFrom="sm">
      <Select size="xs" w={180} placeholder={t('header.allWorkspaces')} aria-label={t('header.workspace')} data={workspaces} value={scope.workspace ?? null} clearable
        onChange={(ws) => navigate(ws ? `/workspaces/${encodeURIComponent(ws)}` : '/')} data-testid="workspace-switcher" />
      {scope.workspace && (
        <Select size="xs" w={160} placeholder={t('header.namespace')} aria-label={t('header.namespace')} data={namespaces} value={scope.namespace ?? null} clearable
          onChange={(ns) => navigate(ns ? `/workspaces/${encodeURIComponent(scope.workspace!)}/namespaces/${encodeURIComponent(ns)}` : `/workspaces/${encodeURIComponent(scope.workspace!)}`)} />
      )}
    </Group>
  );
}
