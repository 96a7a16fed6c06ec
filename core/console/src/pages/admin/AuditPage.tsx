import { Alert, Badge, Button, Group, Loader, Stack, Table, TextInput, Title } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';

interface AuditEvent {
  auditID: string;
  requestReceivedTimestamp: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  responseStatus: { code: number; message?: string };
}

/** The audit log: who did what, when, with which outcome (newest first, filtered by user). */
export default function AuditPage() {
  const { t } = useTranslation();
  const api = useApi();
  const [user, setUser] = useState('');
  const [items, setItems] = useState<AuditEvent[]>();
  const [error, setError] = useState<string>();
  const load = useCallback(() => {
    const q = new URLSearchParams({ limit: '100', ...(user ? { user } : {}) });
    api.request<{ items: AuditEvent[] }>(`/kapis/audit.mortise.io/v1alpha1/events?${q}`).then((l) => setItems(l.items), (e: Error) => setError(e.message));
  }, [api, user]);
  useEffect(load, [load]);
  return (
    <Stack>
      <Title order={2}>{t('nav.audit')}</Title>
      <Group align="end">
        <TextInput label={t('audit.user')} value={user} onChange={(e) => setUser(e.currentTarget.value)} />
        <Button variant="default" onClick={load}>{t('common.refresh')}</Button>
      </Group>
      {error && <Alert color="red">{error}</Alert>}
      {!items ? <Loader size="sm" /> : (
        <Table striped>
          <Table.Thead><Table.Tr><Table.Th>{t('audit.time')}</Table.Th><Table.Th>{t('audit.user')}</Table.Th><Table.Th>{t('audit.verb')}</Table.Th><Table.Th>URI</Table.Th><Table.Th>{t('audit.outcome')}</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {items.map((e) => (
              <Table.Tr key={e.auditID}>
                <Table.Td>{e.requestReceivedTimestamp}</Table.Td>
                <Table.Td>{e.user.username}</Table.Td>
                <Table.Td>{e.verb}</Table.Td>
                <Table.Td style={{ wordBreak: 'break-all' }}>{e.requestURI}</Table.Td>
                <Table.Td><Badge variant="light" color={e.responseStatus.code < 400 ? 'green' : 'red'} title={e.responseStatus.message}>{e.responseStatus.code}</Badge></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
