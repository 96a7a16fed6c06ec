import { Alert, Anchor, Badge, Button, Group, Loader, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useApi, type KubeObject } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Route, Routes, useParams, useSearchParams } from 'react-router-dom';
import { discoverKinds, groupOf, groupSegment, type DiscoveredKind } from './discovery.js';
import { ResourceDetail } from './ResourceDetail.js';

/** The generic resource browser: every kind in discovery, its objects, and each object's YAML. */
export default function ResourcesPage() {
  return (
    <Routes>
      <Route index element={<KindList />} />
      <Route path=":group/:version/:resource" element={<ObjectList />} />
      <Route path=":group/:version/:resource/:name" element={<ResourceDetail />} />
    </Routes>
  );
}

function KindList() {
  const { t } = useTranslation();
  const api = useApi();
  const [kinds, setKinds] = useState<DiscoveredKind[] | undefined>();
  const [filter, setFilter] = useState('');
  const [error, setError] = useState<string>();
  useEffect(() => {
    discoverKinds(api).then(setKinds, (e: Error) => setError(e.message));
  }, [api]);
  const shown = kinds?.filter((k) => `${k.kind} ${k.resource} ${k.group}`.toLowerCase().includes(filter.toLowerCase()));
  return (
    <Stack>
      <Title order={2}>{t('nav.resources')}</Title>
      <TextInput placeholder={t('resources.filter')} value={filter} onChange={(e) => setFilter(e.currentTarget.value)} w={300} aria-label={t('resources.filter')} />
      {error && <Alert color="red">{error}</Alert>}
      {!shown ? <Loader size="sm" /> : (
        <Table striped highlightOnHover>
          <Table.Thead><Table.Tr><Table.Th>{t('resources.kind')}</Table.Th><Table.Th>{t('resources.group')}</Table.Th><Table.Th>{t('resources.scope')}</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {shown.map((k) => (
              <Table.Tr key={`${k.group}/${k.resource}`}>
                <Table.Td><Anchor component={Link} to={`/resources/${groupSegment(k.group)}/${k.version}/${k.resource}`}>{k.kind}</Anchor></Table.Td>
                <Table.Td><Text size="sm" c="dimmed">{k.group ? `${k.group}/${k.version}` : k.version}</Text></Table.Td>
                <Table.Td><Badge variant="light" color={k.namespaced ? 'blue' : 'gray'}>{k.namespaced ? t('resources.namespaced') : t('resources.cluster')}</Badge></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

function ObjectList() {
  const { t } = useTranslation();
  const api = useApi();
  const params = useParams();
  const [search, setSearch] = useSearchParams();
  const namespace = search.get('namespace') ?? undefined;
  const ref = { group: groupOf(params.group!), version: params.version!, resource: params.resource!, namespace };
  const [items, setItems] = useState<KubeObject[] | undefined>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    setItems(undefined);
    api.list(ref).then((l) => setItems(l.items), (e: Error) => setError(e.message));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, params.group, params.version, params.resource, namespace]);
  const base = `/resources/${params.group}/${params.version}/${params.resource}`;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{params.resource}</Title>
        <Button component={Link} to={`${base}/~new${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ''}`} size="xs">{t('common.create')}</Button>
      </Group>
      <TextInput placeholder={t('header.namespace')} defaultValue={namespace ?? ''} w={240} aria-label={t('header.namespace')}
        onKeyDown={(e) => e.key === 'Enter' && setSearch(e.currentTarget.value ? { namespace: e.currentTarget.value } : {})} />
      {error && <Alert color="red">{error}</Alert>}
      {!items && !error ? <Loader size="sm" /> : items && (
        <Table striped highlightOnHover>
          <Table.Thead><Table.Tr><Table.Th>{t('common.name')}</Table.Th><Table.Th>{t('header.namespace')}</Table.Th><Table.Th>{t('common.created')}</Table.Th></Table.Tr></Table.Thead>
          <Table.Tbody>
            {items.map((o) => (
              <Table.Tr key={`${o.metadata.namespace ?? ''}/${o.metadata.name}`}>
                <Table.Td><Anchor component={Link} to={`${base}/${encodeURIComponent(o.metadata.name!)}${o.metadata.namespace ? `?namespace=${encodeURIComponent(o.metadata.namespace)}` : ''}`}>{o.metadata.name}</Anchor></Table.Td>
                <Table.Td>{o.metadata.namespace ?? ''}</Table.Td>
                <Table.Td>{o.metadata.creationTimestamp ?? ''}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
