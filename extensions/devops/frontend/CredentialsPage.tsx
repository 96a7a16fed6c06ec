import { Alert, Badge, Button, Group, PasswordInput, Stack, Table, TextInput, Title } from '@mantine/core';
import { useApi, type PageProps } from '@mortise/extension-sdk/console';
import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';

interface Secret { metadata: { name: string }; data?: Record<string, string> }

/**
 * The credentials steps may use (`secretEnv`, webhook secrets): Secrets of the namespace. Only
 * names and keys are shown; values are written, never read back here.
 */
export default function CredentialsPage(props: PageProps) {
  const api = useApi();
  const { t } = useTranslation('ext:devops');
  const ns = props.namespace!;
  const ref = { group: '', version: 'v1', resource: 'secrets', namespace: ns };
  const [items, setItems] = useState<Secret[]>([]);
  const [error, setError] = useState<string>();
  const [form, setForm] = useState({ name: '', key: 'token', value: '' });
  const load = useCallback(() => api.list(ref).then((l) => setItems(l.items as unknown as Secret[]), (e: Error) => setError(e.message)),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [api, ns]);
  useEffect(() => void load(), [load]);
  const create = async () => {
    setError(undefined);
    try {
      await api.create(ref, { apiVersion: 'v1', kind: 'Secret', metadata: { name: form.name }, stringData: { [form.key]: form.value } } as never);
      setForm({ ...form, name: '', value: '' });
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Stack>
      <Title order={2}>{t('credentials')}</Title>
      {error && <Alert color="red">{error}</Alert>}
      <Group align="end">
        <TextInput label="Name" value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        <TextInput label="Key" value={form.key} onChange={(e) => setForm({ ...form, key: e.currentTarget.value })} />
        <PasswordInput label="Value" value={form.value} onChange={(e) => setForm({ ...form, value: e.currentTarget.value })} />
        <Button onClick={() => void create()} disabled={!form.name || !form.key}>{t('create')}</Button>
      </Group>
      <Table data-testid="devops-credentials">
        <Table.Tbody>
          {items.map((s) => (
            <Table.Tr key={s.metadata.name}>
              <Table.Td>{s.metadata.name}</Table.Td>
              <Table.Td>{Object.keys(s.data ?? {}).map((k) => <Badge key={k} variant="light" mr={4}>{k}</Badge>)}</Table.Td>
              <Table.Td><Button size="xs" color="red" variant="subtle" onClick={() => void api.delete({ ...ref, name: s.metadata.name }).then(load)}>Delete</Button></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
