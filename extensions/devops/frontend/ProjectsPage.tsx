import { Alert, Badge, Button, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router-dom';
import { group, pageBase, phaseColor, version } from './paths.js';

interface Project { metadata: { name: string; labels?: Record<string, string> }; spec?: { namespace?: string; description?: string }; status?: { phase?: string; namespace?: string; message?: string } }
const workspaceLabel = 'tenant.mortise.io/workspace';

/** DevOps projects: each owns a namespace in its workspace, where its pipelines live. */
export default function ProjectsPage() {
  const api = useApi();
  const { t } = useTranslation('ext:devops');
  const [items, setItems] = useState<Project[]>([]);
  const [error, setError] = useState<string>();
  const [name, setName] = useState('');
  const [workspace, setWorkspace] = useState('');
  const load = useCallback(() => api.list({ group, version, resource: 'devopsprojects' }).then((l) => setItems(l.items as unknown as Project[]), (e: Error) => setError(e.message)), [api]);
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 3000);
    return () => clearInterval(timer);
  }, [load]);
  const create = async () => {
    setError(undefined);
    try {
      await api.create({ group, version, resource: 'devopsprojects' }, { apiVersion: `${group}/${version}`, kind: 'DevOpsProject', metadata: { name, labels: { [workspaceLabel]: workspace } } });
      setName('');
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Stack>
      <Title order={2}>{t('projects')}</Title>
      {error && <Alert color="red" data-testid="devops-error">{error}</Alert>}
      <Group align="end">
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <TextInput label="Workspace" value={workspace} onChange={(e) => setWorkspace(e.currentTarget.value)} />
        <Button onClick={() => void create()} disabled={!name || !workspace}>{t('create')}</Button>
      </Group>
      <Table data-testid="devops-projects">
        <Table.Thead><Table.Tr><Table.Th>Name</Table.Th><Table.Th>Workspace</Table.Th><Table.Th>Namespace</Table.Th><Table.Th>Phase</Table.Th></Table.Tr></Table.Thead>
        <Table.Tbody>
          {items.map((p) => {
            const ws = p.metadata.labels?.[workspaceLabel];
            const ns = p.status?.namespace;
            return (
              <Table.Tr key={p.metadata.name}>
                <Table.Td>{p.metadata.name}</Table.Td>
                <Table.Td>{ws}</Table.Td>
                <Table.Td>{ns && ws ? <Link to={pageBase(ws, ns)}>{ns}</Link> : ns}</Table.Td>
                <Table.Td><Badge color={phaseColor(p.status?.phase === 'Ready' ? 'Succeeded' : p.status?.phase)}>{p.status?.phase ?? 'Pending'}</Badge>{p.status?.message && <Text size="xs" c="dimmed">{p.status.message}</Text>}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
