import { Alert, Anchor, Badge, Button, Group, Loader, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useApi, useAccess, type KubeObject } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useParams } from 'react-router-dom';

const tenant = '/kapis/tenant.mortise.io/v1alpha1';

/** The workspaces the user belongs to (all of them for a platform admin); creating one when allowed. */
export default function WorkspacesPage() {
  const { t } = useTranslation();
  const api = useApi();
  const [items, setItems] = useState<KubeObject[]>();
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  const mayCreate = useAccess([{ verb: 'create', group: 'tenant.mortise.io', resource: 'workspaces' }]);
  const load = () => void api.request<{ items: KubeObject[] }>(`${tenant}/workspaces`).then((l) => setItems(l.items), (e: Error) => setError(e.message));
  useEffect(load, [api]);
  const create = async () => {
    setError(undefined);
    try {
      await api.create({ group: 'tenant.mortise.io', version: 'v1alpha1', resource: 'workspaces' }, { apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace', metadata: { name }, spec: { manager: undefined } });
      setName('');
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Stack>
      <Title order={2}>{t('nav.workspaces')}</Title>
      {mayCreate && (
        <Group align="end">
          <TextInput label={t('common.name')} value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Button onClick={create} disabled={!name}>{t('common.create')}</Button>
        </Group>
      )}
      {error && <Alert color="red">{error}</Alert>}
      {!items ? <Loader size="sm" /> : (
        <Table striped>
          <Table.Thead><Table.Tr><Table.Th>{t('common.name')}</Table.Th><Table.Th>{t('common.created')}</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {items.map((w) => (
              <Table.Tr key={w.metadata.name}>
                <Table.Td><Anchor component={Link} to={`/workspaces/${encodeURIComponent(w.metadata.name!)}/members`}>{w.metadata.name}</Anchor></Table.Td>
                <Table.Td>{w.metadata.creationTimestamp}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

/** A workspace's members and namespaces. */
export function WorkspaceMembersPage() {
  const { t } = useTranslation();
  const api = useApi();
  const { workspace } = useParams();
  const [members, setMembers] = useState<Array<{ kind: string; name: string; roles: string[] }>>();
  const [namespaces, setNamespaces] = useState<KubeObject[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const ws = encodeURIComponent(workspace!);
    api.request<{ items: Array<{ kind: string; name: string; roles: string[] }> }>(`${tenant}/workspaces/${ws}/members`).then((l) => setMembers(l.items), (e: Error) => setError(e.message));
    api.request<{ items: KubeObject[] }>(`${tenant}/workspaces/${ws}/namespaces`).then((l) => setNamespaces(l.items), () => setNamespaces([]));
  }, [api, workspace]);
  return (
    <Stack>
      <Title order={2}>{workspace}</Title>
      {error && <Alert color="red">{error}</Alert>}
      <Title order={4}>{t('workspaces.members')}</Title>
      {!members ? <Loader size="sm" /> : (
        <Table striped>
          <Table.Thead><Table.Tr><Table.Th>{t('common.name')}</Table.Th><Table.Th>{t('workspaces.roles')}</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {members.map((m) => (
              <Table.Tr key={`${m.kind}/${m.name}`}>
                <Table.Td>{m.name} <Text span size="xs" c="dimmed">{m.kind}</Text></Table.Td>
                <Table.Td>{m.roles.map((r) => <Badge key={r} variant="light" mr={4}>{r}</Badge>)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Title order={4}>{t('nav.namespaces')}</Title>
      {namespaces?.length ? namespaces.map((n) => (
        <Anchor key={n.metadata.name} component={Link} to={`/workspaces/${encodeURIComponent(workspace!)}/namespaces/${encodeURIComponent(n.metadata.name!)}`}>{n.metadata.name}</Anchor>
      )) : <Text c="dimmed" size="sm">—</Text>}
    </Stack>
  );
}
