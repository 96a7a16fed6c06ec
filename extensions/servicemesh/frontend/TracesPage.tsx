import { Alert, Badge, Group, NumberInput, Stack, Switch, Table, TextInput } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { useState } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { MeshHeader, useNamespace, usePoll } from './MeshHeader.js';
import { base, type TraceSummary } from './mesh-api.js';

/** Traces of a namespace: by service, minimum duration, errors only; newest first. */
export default function TracesPage() {
  const api = useApi();
  const [ns] = useNamespace();
  const [service, setService] = useState('');
  const [minDuration, setMinDuration] = useState<number | string>('');
  const [errors, setErrors] = useState(false);
  const root = useLocation().pathname.replace(/\/traces\/?$/, '');
  const q = new URLSearchParams({ limit: '100', ...(service ? { service } : {}), ...(minDuration !== '' ? { minDurationMs: String(minDuration) } : {}), ...(errors ? { error: 'true' } : {}) });
  const { data, error } = usePoll(() => api.request<{ items: TraceSummary[] }>(`${base}/namespaces/${encodeURIComponent(ns)}/traces?${q}`), 3000, [api, ns, service, minDuration, errors]);
  return (
    <Stack>
      <MeshHeader tab="traces" />
      <Group align="end">
        <TextInput label="Service" value={service} onChange={(e) => setService(e.currentTarget.value)} />
        <NumberInput label="Min duration (ms)" value={minDuration} onChange={setMinDuration} min={0} w={160} />
        <Switch label="Errors only" checked={errors} onChange={(e) => setErrors(e.currentTarget.checked)} />
      </Group>
      {error && <Alert color="red">{error}</Alert>}
      <Table striped data-testid="mesh-traces">
        <Table.Thead><Table.Tr><Table.Th>started</Table.Th><Table.Th>root</Table.Th><Table.Th>services</Table.Th><Table.Th>spans</Table.Th><Table.Th>duration</Table.Th><Table.Th /></Table.Tr></Table.Thead>
        <Table.Tbody>
          {(data?.items ?? []).map((t) => (
            <Table.Tr key={t.traceId}>
              <Table.Td><Link to={`${root}/traces/${ns}/${t.traceId}?ns=${ns}`}>{new Date(t.startTime).toLocaleTimeString()}</Link></Table.Td>
              <Table.Td>{t.rootService}</Table.Td>
              <Table.Td>{t.services.join(' → ')}</Table.Td>
              <Table.Td>{t.spans}</Table.Td>
              <Table.Td>{t.durationMs} ms</Table.Td>
              <Table.Td>{t.error && <Badge color="red">error</Badge>}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
