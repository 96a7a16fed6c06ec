import { Alert, Badge, Group, Stack, Table, Text } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import cytoscape from 'cytoscape';
import { useEffect, useRef } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { MeshHeader, useNamespace, usePoll } from './MeshHeader.js';
import { base, healthColor, pct, type Topology } from './mesh-api.js';
import styles from './mesh.css';

/** A namespace's live traffic graph (cytoscape), refreshed every 2 s, and its edges as a table. */
export default function TopologyPage() {
  const api = useApi();
  const [ns] = useNamespace();
  const location = useLocation();
  const root = location.pathname.replace(/\/$/, '');
  const { data, error } = usePoll(() => api.request<Topology>(`${base}/namespaces/${encodeURIComponent(ns)}/topology?window=60`), 2000, [api, ns]);
  const box = useRef<HTMLDivElement>(null);
  const cy = useRef<cytoscape.Core>();
  const shape = useRef('');

  useEffect(() => {
    if (!box.current) return;
    cy.current = cytoscape({
      container: box.current,
      style: [
        { selector: 'node', style: { label: 'data(label)', 'background-color': 'data(color)', color: '#212529', 'text-valign': 'bottom', 'text-margin-y': 6, 'font-size': 12, width: 36, height: 36 } },
        { selector: 'node[kind = "external"]', style: { shape: 'round-rectangle', 'background-color': '#adb5bd' } },
        { selector: 'edge', style: { label: 'data(label)', width: 2, 'line-color': 'data(color)', 'target-arrow-color': 'data(color)', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier', 'font-size': 10, 'text-background-color': '#fff', 'text-background-opacity': 0.8 } },
      ],
      userZoomingEnabled: true,
    });
    return () => cy.current?.destroy();
  }, []);

  useEffect(() => {
    const g = cy.current;
    if (!g || !data) return;
    const elements: cytoscape.ElementDefinition[] = [
      ...data.nodes.map((n) => ({ data: { id: `n:${n.id}`, label: n.kind === 'service' ? `${n.id} (${n.versions.map((v) => v.name).join(', ')})` : n.id, color: healthColor[n.health] ?? '#868e96', kind: n.kind } })),
      ...data.edges.map((e) => ({ data: { id: `e:${e.id}`, source: `n:${e.source}`, target: `n:${e.target}`, label: `${e.version} ${e.stats.rps.toFixed(1)}/s ${pct(e.stats.errorRate)}`, color: healthColor[e.health] ?? '#868e96' } })),
    ];
    const key = elements.map((x) => x.data.id).sort().join('|');
    if (key !== shape.current) {
      g.elements().remove();
      g.add(elements);
      g.layout({ name: 'breadthfirst', directed: true, padding: 30, spacingFactor: 1.2 }).run();
      shape.current = key;
    } else {
      for (const el of elements) g.getElementById(el.data.id!).data(el.data);
    }
  }, [data]);

  return (
    <Stack>
      <MeshHeader tab="topology" />
      {error && <Alert color="red">{error}</Alert>}
      <div ref={box} className={styles.graph} data-testid="mesh-topology" data-nodes={data?.nodes.map((n) => n.id).sort().join(',') ?? ''} />
      <Table striped data-testid="mesh-edges">
        <Table.Thead>
          <Table.Tr><Table.Th>from</Table.Th><Table.Th>to</Table.Th><Table.Th>req/s</Table.Th><Table.Th>errors</Table.Th><Table.Th>p50</Table.Th><Table.Th>p99</Table.Th><Table.Th>health</Table.Th></Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(data?.edges ?? []).map((e) => (
            <Table.Tr key={e.id}>
              <Table.Td>{e.source}</Table.Td>
              <Table.Td><Link to={`${root}/services/${ns}/${e.target}?ns=${ns}`}>{e.target}</Link> <Text span c="dimmed">{e.version}</Text></Table.Td>
              <Table.Td>{e.stats.rps.toFixed(2)}</Table.Td>
              <Table.Td>{pct(e.stats.errorRate)}</Table.Td>
              <Table.Td>{e.stats.p50Ms.toFixed(1)} ms</Table.Td>
              <Table.Td>{e.stats.p99Ms.toFixed(1)} ms</Table.Td>
              <Table.Td><Badge color={healthColor[e.health]}>{e.health}</Badge></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Group>
        {(data?.nodes ?? []).filter((n) => n.kind === 'service').map((n) => (
          <Link key={n.id} to={`${root}/services/${ns}/${n.id}?ns=${ns}`}><Badge variant="outline" color={healthColor[n.health]}>{n.id}</Badge></Link>
        ))}
      </Group>
    </Stack>
  );
}
