import { Alert, Badge, Button, Checkbox, Code, Group, Loader, Paper, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { localize, useApi, type KubeObject } from '@mortise/extension-sdk/console';
import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router-dom';
import { useWatchedList } from '../../app/use-watched-list.js';
import {
  bindingObject, builtinAnnotation, describeRule, displayNameAnnotation, groupByModule, neededBy, resolvedRules, roleApi, roleObject,
  templatesFor, withDependencies, type Localized, type Role, type RoleScope, type RoleTemplate,
} from './role-model.js';

const roleTemplates = { group: 'iam.mortise.io', version: 'v1alpha1', resource: 'roletemplates' };
const catalogue = '/apis/extensions.mortise.io/v1alpha1/extensions';

/** The roles of the scope in the URL (platform, workspace or namespace) and the editor that builds them from RoleTemplates. */
export default function RolesPage() {
  const { t } = useTranslation();
  const api = useApi();
  const { workspace, namespace } = useParams();
  const scope: RoleScope = namespace && workspace ? { level: 'namespace', workspace, namespace } : workspace ? { level: 'workspace', workspace } : { level: 'platform' };
  const endpoints = roleApi(scope);
  const [roles, setRoles] = useState<Role[]>();
  const [error, setError] = useState<string>();
  // `session` keys the editor: saving a new role keeps the same editor (and its "saved" note), now on the stored role.
  const [editing, setEditing] = useState<{ role?: Role; session: number } | undefined>();
  const scopeKey = JSON.stringify(scope);
  const load = () => void api.request<{ items: Role[] }>(endpoints.listRoles).then((l) => setRoles(l.items), (e: Error) => setError(e.message));
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => { setEditing(undefined); setRoles(undefined); load(); }, [api, scopeKey]);

  const where = scope.level === 'platform' ? t('roles.platform') : scope.level === 'workspace' ? scope.workspace : `${scope.workspace} / ${scope.namespace}`;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('roles.title', { where })}</Title>
        <Button onClick={() => setEditing({ session: Date.now() })} data-testid="role-new">{t('roles.new')}</Button>
      </Group>
      {error && <Alert color="red" data-testid="roles-error">{error}</Alert>}
      {!roles ? <Loader size="sm" /> : (
        <Table striped data-testid="roles-table">
          <Table.Thead><Table.Tr><Table.Th>{t('common.name')}</Table.Th><Table.Th>{t('roles.templates')}</Table.Th><Table.Th /></Table.Tr></Table.Thead>
          <Table.Tbody>
            {roles.map((r) => (
              <Table.Tr key={r.metadata.name}>
                <Table.Td>
                  {r.metadata.name}{' '}
                  {r.metadata.annotations?.[builtinAnnotation] === 'true' && <Badge size="xs" variant="light">{t('roles.builtin')}</Badge>}
                  <Text size="xs" c="dimmed">{r.metadata.annotations?.[displayNameAnnotation] ?? ''}</Text>
                </Table.Td>
                <Table.Td>{(r.aggregationRoleTemplates?.templateNames ?? []).map((n) => <Badge key={n} variant="outline" mr={4}>{n}</Badge>)}</Table.Td>
                <Table.Td><Button size="xs" variant="subtle" onClick={() => setEditing({ role: r, session: Date.now() })} data-testid={`role-edit-${r.metadata.name}`}>{t('roles.edit')}</Button></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {editing && <RoleEditor key={editing.session} scope={scope} role={editing.role} onSaved={(r) => { setEditing({ role: r, session: editing.session }); load(); }} />}
    </Stack>
  );
}

function RoleEditor({ scope, role, onSaved }: { scope: RoleScope; role?: Role; onSaved: (r: Role) => void }) {
  const { t, i18n } = useTranslation();
  const api = useApi();
  const endpoints = roleApi(scope);
  const all = useWatchedList<RoleTemplate>(roleTemplates);
  const offered = useMemo(() => templatesFor(scope, all.items ?? []), [all.items, scope]);
  const byName = useMemo(() => new Map((all.items ?? []).map((tpl) => [tpl.metadata.name!, tpl])), [all.items]);
  const groups = useMemo(() => groupByModule(offered), [offered]);
  const modules = useExtensionNames(groups.map((g) => g.module).filter(Boolean));
  const [name, setName] = useState(role?.metadata.name ?? '');
  const [displayName, setDisplayName] = useState(role?.metadata.annotations?.[displayNameAnnotation] ?? '');
  const [selected, setSelected] = useState(new Set(role?.aggregationRoleTemplates?.templateNames ?? []));
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState(false);
  const builtin = role?.metadata.annotations?.[builtinAnnotation] === 'true';
  const text = (l: Localized | undefined) => (l === undefined ? '' : localize(l, i18n.language));

  const toggle = (n: string, on: boolean) => {
    const next = new Set(selected);
    if (on) for (const d of withDependencies(n, byName)) next.add(d);
    else next.delete(n);
    setSelected(next);
    setSaved(false);
  };
  const save = async () => {
    setError(undefined);
    setSaved(false);
    const body = roleObject(scope, role, name, displayName, [...selected].sort());
    try {
      const written = role
        ? await api.update<Role>({ ...endpoints.roles, name }, body)
        : await api.create<Role>(endpoints.roles, body);
      setSaved(true);
      onSaved(written);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  // Templates the role names that no longer exist (their extension was uninstalled) stay named but grant nothing.
  const missing = [...selected].filter((n) => all.items && !byName.has(n));
  const rules = resolvedRules(scope, role?.rules ?? [], selected, byName);

  return (
    <Paper withBorder p="md" data-testid="role-editor">
      <Stack>
        <Title order={4}>{role ? t('roles.editing', { name: role.metadata.name }) : t('roles.new')}</Title>
        <Group align="end">
          <TextInput label={t('common.name')} value={name} disabled={!!role} onChange={(e) => setName(e.currentTarget.value)} data-testid="role-name" />
          <TextInput label={t('roles.displayName')} value={displayName} onChange={(e) => setDisplayName(e.currentTarget.value)} />
        </Group>
        {builtin && <Alert color="yellow">{t('roles.builtinNote')}</Alert>}
        {all.error && <Alert color="red">{all.error}</Alert>}
        {!all.items ? <Loader size="sm" /> : groups.length === 0 ? <Text c="dimmed">{t('roles.noTemplates')}</Text> : (
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            {groups.map((g) => (
              <Paper key={g.module} withBorder p="sm" data-testid={`template-group-${g.module || 'core'}`}>
                <Text fw={600} mb="xs">{g.module ? (modules[g.module] ? text(modules[g.module]) : g.module) : t('roles.coreModule')}</Text>
                <Stack gap="xs">
                  {g.templates.map((tpl) => {
                    const n = tpl.metadata.name!;
                    const needers = neededBy(n, selected, byName);
                    const deps = tpl.spec.dependsOn ?? [];
                    return (
                      <Checkbox key={n} checked={selected.has(n)} disabled={builtin || (selected.has(n) && needers.length > 0)}
                        onChange={(e) => toggle(n, e.currentTarget.checked)} data-testid={`template-${n}`}
                        label={text(tpl.spec.displayName) || n}
                        description={<>
                          {text(tpl.spec.description)}
                          {deps.length > 0 && <Text span size="xs" c="dimmed" display="block">{t('roles.dependsOn', { names: deps.map((d) => text(byName.get(d)?.spec.displayName) || d).join(', ') })}</Text>}
                          {selected.has(n) && needers.length > 0 && <Text span size="xs" c="dimmed" display="block">{t('roles.neededBy', { names: needers.map((d) => text(byName.get(d)?.spec.displayName) || d).join(', ') })}</Text>}
                        </>} />
                    );
                  })}
                </Stack>
              </Paper>
            ))}
          </SimpleGrid>
        )}
        {missing.length > 0 && <Alert color="gray">{t('roles.missing', { names: missing.join(', ') })}</Alert>}
        <div>
          <Text fw={600} size="sm">{t('roles.resolves')}</Text>
          <Stack gap={2} data-testid="role-rules">
            {rules.length ? rules.map((r) => <Code key={describeRule(r)} block={false}>{describeRule(r)}</Code>) : <Text c="dimmed" size="sm">—</Text>}
          </Stack>
        </div>
        {error && <Alert color="red" data-testid="role-error">{error}</Alert>}
        {saved && <Text c="green" size="sm" data-testid="role-saved">{t('resources.saved')}</Text>}
        <Group>
          <Button onClick={save} disabled={!name || builtin} data-testid="role-save">{t('common.save')}</Button>
        </Group>
        {role && <RoleMembers scope={scope} role={role.metadata.name!} />}
      </Stack>
    </Paper>
  );
}

/** Who holds the role here, and binding it to one more user. */
function RoleMembers({ scope, role }: { scope: RoleScope; role: string }) {
  const { t } = useTranslation();
  const api = useApi();
  const endpoints = roleApi(scope);
  const [bindings, setBindings] = useState<Array<KubeObject & { roleRef?: { name?: string }; subjects?: Array<{ kind: string; name: string }> }>>();
  const [user, setUser] = useState('');
  const [error, setError] = useState<string>();
  const load = () => void api.request<{ items: NonNullable<typeof bindings> }>(endpoints.listBindings).then((l) => setBindings(l.items.filter((b) => b.roleRef?.name === role)), (e: Error) => setError(e.message));
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(load, [api, role, endpoints.listBindings]);
  const bind = async () => {
    setError(undefined);
    try {
      await api.request(endpoints.createBinding, { method: 'POST', json: bindingObject(scope, role, user) });
      setUser('');
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const subjects = (bindings ?? []).flatMap((b) => (b.subjects ?? []).map((s) => `${s.kind === 'User' ? '' : `${s.kind}:`}${s.name}`));
  return (
    <Stack gap="xs">
      <Text fw={600} size="sm">{t('roles.members')}</Text>
      <Group gap={4} data-testid="role-members">{subjects.length ? subjects.map((s) => <Badge key={s} variant="light">{s}</Badge>) : <Text c="dimmed" size="sm">—</Text>}</Group>
      <Group align="end">
        <TextInput label={t('roles.bindUser')} value={user} onChange={(e) => setUser(e.currentTarget.value)} data-testid="role-bind-user" />
        <Button variant="light" onClick={bind} disabled={!user} data-testid="role-bind">{t('roles.bind')}</Button>
      </Group>
      {error && <Alert color="red" data-testid="role-bind-error">{error}</Alert>}
    </Stack>
  );
}

/** Display names of the extensions that brought templates (from the catalogue); names absent from it show as they are. */
function useExtensionNames(names: string[]): Record<string, Localized> {
  const api = useApi();
  const [found, setFound] = useState<Record<string, Localized>>({});
  const key = [...new Set(names)].sort().join(',');
  useEffect(() => {
    if (!key) return;
    api.request<{ items: Array<KubeObject & { spec?: { displayName?: Localized } }> }>(catalogue)
      .then((l) => setFound(Object.fromEntries(l.items.filter((e) => e.spec?.displayName).map((e) => [e.metadata.name!, e.spec!.displayName!]))), () => setFound({}));
  }, [api, key]);
  return found;
}
