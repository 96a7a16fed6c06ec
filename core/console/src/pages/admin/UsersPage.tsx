import { Alert, Badge, Button, Group, Loader, PasswordInput, Stack, Table, TextInput, Title } from '@mantine/core';
import { useApi, type KubeObject } from '@mortise/extension-sdk/console';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useWatchedList } from '../../app/use-watched-list.js';

interface User extends KubeObject {
  spec?: { email?: string; displayName?: string };
  status?: { state?: string; lastLoginTime?: string };
}

const users = { group: 'iam.mortise.io', version: 'v1alpha1', resource: 'users' };

/** Platform users: who they are, their state, and creating one. */
export default function UsersPage() {
  const { t } = useTranslation();
  const api = useApi();
  const list = useWatchedList<User>(users);
  const [form, setForm] = useState({ name: '', email: '', password: '' });
  const [error, setError] = useState<string>();
  const create = async () => {
    setError(undefined);
    try {
      await api.create(users, { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: form.name }, spec: { email: form.email || undefined, password: form.password || undefined } });
      setForm({ name: '', email: '', password: '' });
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Stack>
      <Title order={2}>{t('nav.users')}</Title>
      <Group align="end">
        <TextInput label={t('common.name')} value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        <TextInput label={t('users.email')} value={form.email} onChange={(e) => setForm({ ...form, email: e.currentTarget.value })} />
        <PasswordInput label={t('login.password')} value={form.password} onChange={(e) => setForm({ ...form, password: e.currentTarget.value })} />
        <Button onClick={create} disabled={!form.name}>{t('common.create')}</Button>
      </Group>
      {(error ?? list.error) && <Alert color="red">{error ?? list.error}</Alert>}
      {!list.items ? <Loader size="sm" /> : (
        <Table striped>
          <Table.Thead><Table.Tr><Table.Th>{t('common.name')}</Table.Th><Table.Th>{t('users.email')}</Table.Th><Table.Th>{t('center.state')}</Table.Th><Table.Th>{t('users.lastLogin')}</Table.Th><Table.Th /></Table.Tr></Table.Thead>
          <Table.Tbody>
            {list.items.filter((u) => u.metadata.annotations?.['iam.mortise.io/service-account'] !== 'true').map((u) => (
              <Table.Tr key={u.metadata.name}>
                <Table.Td>{u.metadata.name}</Table.Td>
                <Table.Td>{u.spec?.email ?? ''}</Table.Td>
                <Table.Td><Badge variant="light" color={u.status?.state === 'Disabled' ? 'red' : 'green'}>{u.status?.state ?? 'Active'}</Badge></Table.Td>
                <Table.Td>{u.status?.lastLoginTime ?? ''}</Table.Td>
                <Table.Td>
                  {u.metadata.name !== 'admin' && <Button size="xs" color="red" variant="subtle" onClick={() => api.delete({ ...users, name: u.metadata.name! }).catch((e: Error) => setError(e.message))}>{t('common.delete')}</Button>}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
