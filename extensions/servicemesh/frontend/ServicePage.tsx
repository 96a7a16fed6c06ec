import { Alert, Badge, Card, Code, Stack, Table, Text, Title } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { usePathSegments, usePoll } from './MeshHeader.js';
import { base, pct, type EndpointState, type WindowStats } from './mesh-api.js';

interface Detail {
  service: string; namespace: string; problem: string | null; defaultVersion: string; stats: WindowStats;
  versions: Array<{ name: string; endpoints: EndpointState[]; stats: WindowStats }>;
  trafficRules: unknown[]; circuitBreakers: unknown[]; grayReleases: unknown[];
}

/** One service: its versions, endpoints (ejected or not), rates, and the rules in force. */
export default function ServicePage() {
  const api = useApi();
  const [, namespace = '', service = ''] = usePathSegments();
  const { data, error } = usePoll(() => api.request<Detail>(`${base}/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(service)}`), 2000, [api, namespace, service]);
  return (
    <Stack>
      <Title order={2}>{service} <Text span c="dimmed">{namespace}</Text></Title>
      {error && <Alert color="red">{error}</Alert>}
      {data?.problem && <Alert color="orange" title="the latest rules are not in force">{data.problem}</Alert>}
      {data && (
        <>
          <Text>{data.stats.rps.toFixed(2)} req/s · {pct(data.stats.errorRate)} errors · p99 {data.stats.p99Ms.toFixed(1)} ms (last 60 s)</Text>
          <Table data-testid="mesh-versions">
            <Table.Thead><Table.Tr><Table.Th>version</Table.Th><Table.Th>endpoints</Table.Th><Table.Th>req/s</Table.Th><Table.Th>errors</Table.Th><Table.Th>p99</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {data.versions.map((v) => (
                <Table.Tr key={v.name}>
                  <Table.Td>{v.name}{v.name === data.defaultVersion && <Badge ml="xs" size="xs">default</Badge>}</Table.Td>
                  <Table.Td>{v.endpoints.map((e) => <div key={e.url}>{e.url} {e.ejected && <Badge color="red" size="xs">ejected</Badge>}</div>)}</Table.Td>
                  <Table.Td>{v.stats.rps.toFixed(2)}</Table.Td>
                  <Table.Td>{pct(v.stats.errorRate)}</Table.Td>
                  <Table.Td>{v.stats.p99Ms.toFixed(1)} ms</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {(['trafficRules', 'circuitBreakers', 'grayReleases'] as const).map((k) => (
            <Card key={k} withBorder>
              <Text fw={600}>{k}</Text>
              {data[k].length === 0 ? <Text c="dimmed">none</Text> : <Code block>{JSON.stringify(data[k].map((o) => ({ name: (o as { metadata: { name: string } }).metadata.name, spec: (o as { spec: unknown }).spec, status: (o as { status?: unknown }).status })), null, 2)}</Code>}
            </Card>
          ))}
        </>
      )}
    </Stack>
  );
}
