import { Alert, Badge, Button, Group, Loader, Stack, Table, TextInput } from '@mantine/core';
import { useApi, type KubeObject } from '@mortise/extension-sdk/console';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useWatchedList } from '../../app/use-watched-list.js';

interface Repository extends KubeObject {
  spec: { url: string; description?: string };
  status?: { lastSuccessfulSyncTime?: string; extensions?: number; conditions?: Array<{ type: string; status: string; message?: string }> };
}

const repositories = { group: 'extensions.mortise.io', version: 'v1alpha1', resource: 'repositories' };

/** The repositories the marketplace is synced from: their state, adding and removing one. */
export function RepositoriesPanel() {
  const { t } = useTranslation();
  const api = useApi();
  const list = useWatchedList<Repository>(repositories);
  const [form, setForm] = useState({ name: '', url: '' });
  const [error, setError] = useState<string>();
  const add = async () => {
    setError(undefined);
    try {
      await api.create(repositories, { apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'Repository', metadata: { name: form.name }, spec: { url: form.url } });
      setForm({ name: '', url: '' });
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Stack>
      <Group align="end">
        <TextInput label={t('common.name')} value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        <TextInput label="URL" w={360} placeholder="https://… or file:///…" value={form.url} onChange={(e) => setForm({ ...form, url: e.currentTarget.value })} />
        <Button onClick={add} disabled={!form.name || !form.url}>{t('common.create')}</Button>
      </Group>
      {(error ?? list.error) && <Alert color="red">{error ?? list.error}</Alert>}
      {!list.items ? <Loader size="sm" /> : (
        <Table striped>
          <Table.Thead><Table.Tr><Table.Th>{t('common.name')}</Table.Th><Table.Th>URL</Table.Th><Table.Th>{t('center.state')}</Table.Th><Table.Th>{t('nav.extensions')}</Table.Th><Table.Th /></Table.Tr></Table.Thead>
          <Table.Tbody>
            {list.items.map((r) => {
              const ready = r.status?.conditions?.find((c) => c.type === 'Ready' || c.type === 'Synced');
              return (
                <Table.Tr key={r.metadata.name}>
                  <Table.Td>{r.metadata.name}</Table.Td>
                  <Table.Td style={{ wordBreak: 'break-all' }}>{r.spec.url}</Table.Td>
                  <Table.Td><Badge variant="light" color={ready?.status === 'True' ? 'green' : ready ? 'red' : 'gray'} title={ready?.message}>{ready ? ready.status === 'True' ? 'Synced' : 'Failed' : '…'}</Badge></Table.Td>
                  <Table.Td>{r.status?.extensions ?? ''}</Table.Td>
                  <Table.Td><Button size="xs" color="red" variant="subtle" onClick={() => api.delete({ ...repositories, name: r.metadata.name! }).catch((e: Error) => setError(e.message))}>{t('common.delete')}</Button></Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
