import { Alert, Badge, Code, Stack, Text, Title } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';
import { usePathSegments } from './MeshHeader.js';
import { base, type SpanNode } from './mesh-api.js';
import styles from './mesh.css';

interface Tree { summary: { traceId: string; startTime: number; durationMs: number; spans: number }; roots: SpanNode[] }

function flatten(nodes: SpanNode[], depth = 0): Array<{ span: SpanNode; depth: number }> {
  return nodes.flatMap((n) => [{ span: n, depth }, ...flatten(n.children, depth + 1)]);
}

/** One trace as a waterfall: a row per span, indented by depth, its bar placed on the trace's timeline. */
export default function TracePage() {
  const api = useApi();
  const [, namespace = '', traceId = ''] = usePathSegments();
  const [tree, setTree] = useState<Tree>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.request<Tree>(`${base}/namespaces/${encodeURIComponent(namespace)}/traces/${encodeURIComponent(traceId)}`).then(setTree, (e: Error) => setError(e.message));
  }, [api, namespace, traceId]);
  if (error) return <Alert color="red">{error}</Alert>;
  if (!tree) return null;
  const { startTime, durationMs } = tree.summary;
  const span = Math.max(durationMs, 1);
  return (
    <Stack>
      <Title order={3}>Trace <Code>{traceId}</Code></Title>
      <Text c="dimmed">{tree.summary.spans} spans · {durationMs} ms</Text>
      <div data-testid="mesh-waterfall">
        {flatten(tree.roots).map(({ span: s, depth }) => (
          <div key={s.spanId} data-testid="waterfall-row" style={{ display: 'grid', gridTemplateColumns: '320px 1fr', gap: 8, alignItems: 'center' }}>
            <Text size="sm" style={{ paddingLeft: depth * 16 }} truncate>
              {s.source} → <b>{s.service}</b> {s.version} {s.method} {s.path} <Badge size="xs" color={s.error ? 'red' : 'gray'}>{s.status || 'no answer'}</Badge>
              {s.attempts > 1 && <Badge size="xs" ml={4}>{s.attempts} tries</Badge>}
            </Text>
            <div className={styles.track} title={(s.events ?? []).join(', ')}>
              <div className={styles.bar} style={{ left: `${((s.startTime - startTime) / span) * 100}%`, width: `${Math.max((s.durationMs / span) * 100, 0.5)}%`, background: s.error ? '#e03131' : '#339af0' }} />
            </div>
          </div>
        ))}
      </div>
    </Stack>
  );
}
