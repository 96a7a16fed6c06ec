import { Alert, Badge, Button, Card, Group, Loader, Progress, Select, SimpleGrid, Stack, Tabs, Text, TextInput, Title } from '@mantine/core';
import { ApiRequestError, localize, useApi } from '@mortise/extension-sdk/console';
import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Route, Routes } from 'react-router-dom';
import { PageLoader } from '../../app/PageLoader.js';
import { useWatchedList } from '../../app/use-watched-list.js';
import { busyStates, group, stateColor, stateProgress, version, type ExtensionObject as SearchItem, type InstallPlan } from './extension-center-api.js';
import { RepositoriesPanel } from './RepositoriesPanel.js';

// The details view carries the Markdown renderer and the form library: loaded when first opened.
const ExtensionDetails = lazy(() => import('./ExtensionDetails.js'));

/** The Extension Center: the marketplace, one extension's details, and the repositories it all comes from. */
export default function ExtensionCenterPage() {
  return (
    <Suspense fallback={<PageLoader />}>
      <Routes>
        <Route path="extensions/:name" element={<ExtensionDetails />} />
        <Route path="*" element={<CenterTabs />} />
      </Routes>
    </Suspense>
  );
}

function CenterTabs() {
  const { t } = useTranslation();
  return (
    <Stack>
      <Title order={2}>{t('center.title')}</Title>
      <Tabs defaultValue="extensions" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="extensions">{t('nav.extensions')}</Tabs.Tab>
          <Tabs.Tab value="repositories">{t('center.repositories')}</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="extensions" pt="md"><Marketplace /></Tabs.Panel>
        <Tabs.Panel value="repositories" pt="md"><RepositoriesPanel /></Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

/** Browse and search the marketplace; install, enable/disable, upgrade and uninstall, with live state. */
function Marketplace() {
  const { t, i18n } = useTranslation();
  const api = useApi();
  const [q, setQ] = useState('');
  const [category, setCategory] = useState<string | null>(null);
  const [items, setItems] = useState<SearchItem[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const plans = useWatchedList<InstallPlan>({ group, version, resource: 'installplans' });

  const search = useCallback(() => {
    const query = new URLSearchParams({ ...(q ? { q } : {}), ...(category ? { category } : {}) });
    api.request<{ items: SearchItem[] }>(`/kapis/${group}/${version}/extensions${query.size ? `?${query}` : ''}`).then((r) => setItems(r.items), (e: Error) => setError(e.message));
  }, [api, q, category]);
  useEffect(search, [search]);

  const [allCategories, setAllCategories] = useState<string[]>([]);
  useEffect(() => {
    if (!category && !q && items) setAllCategories([...new Set(items.map((i) => i.spec.category).filter((c): c is string => !!c))].sort());
  }, [items, category, q]);

  const act = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
    } catch (e) {
      setError(e instanceof ApiRequestError ? e.message : String(e));
    }
  };
  const planRef = (name: string) => ({ group, version, resource: 'installplans', name });

  return (
    <Stack>
      <Group>
        <TextInput placeholder={t('center.search')} value={q} onChange={(e) => setQ(e.currentTarget.value)} w={280} aria-label={t('center.search')} />
        <Select placeholder={t('center.category')} data={allCategories} value={category} onChange={setCategory} clearable w={200} aria-label={t('center.category')} />
      </Group>
      {error && <Alert color="red" title={t('common.error')} withCloseButton onClose={() => setError(undefined)}>{error}</Alert>}
      {!items ? <Loader size="sm" /> : items.length === 0 ? <Text c="dimmed">{t('center.noResults')}</Text> : (
        <SimpleGrid cols={{ base: 1, md: 2, xl: 3 }}>
          {items.map((ext) => {
            const name = ext.metadata.name!;
            const plan = plans.items?.find((p) => p.metadata.name === name);
            const state = plan?.status?.state ?? (plan ? 'Pending' : undefined);
            const latest = ext.status?.recommendedVersion ?? ext.status?.latestVersion;
            const installed = plan?.status?.installedVersion;
            const busy = state ? busyStates.has(state) : false;
            return (
              <Card key={name} withBorder data-testid={`extension-card-${name}`}>
                <Group justify="space-between" mb="xs">
                  <Text fw={600}>{localize(ext.spec.displayName ?? name, i18n.language)}</Text>
                  {state && <Badge color={stateColor(state)} data-testid={`extension-state-${name}`}>{state}</Badge>}
                </Group>
                <Text size="sm" c="dimmed" mb="xs">{localize(ext.spec.description ?? '', i18n.language)}</Text>
                <Text size="xs" c="dimmed">{t('center.version')}: {installed ?? latest ?? '—'} · {ext.spec.category ?? ''} · {ext.spec.provider?.name ?? ''}</Text>
                {busy && <Progress value={stateProgress[state!] ?? 50} animated mt="sm" aria-label={t('center.progress')} />}
                {plan?.status?.message && /Failed/.test(state ?? '') && <Text size="xs" c="red" mt="xs">{plan.status.message}</Text>}
                <Group mt="md" gap="xs">
                  <Button size="xs" variant="light" component={Link} to={`/extension-center/extensions/${name}`}>{t('center.details')}</Button>
                  {!plan && latest && (
                    <Button size="xs" onClick={() => act(() => api.create(planRef(''), { apiVersion: `${group}/${version}`, kind: 'InstallPlan', metadata: { name }, spec: { extension: { name, version: latest }, enabled: true } }))}>
                      {t('center.install')}
                    </Button>
                  )}
                  {plan && plan.spec.enabled !== false && <Button size="xs" variant="default" disabled={busy} onClick={() => act(() => api.patch(planRef(name), { spec: { enabled: false } }))}>{t('center.disable')}</Button>}
                  {plan && plan.spec.enabled === false && <Button size="xs" variant="default" disabled={busy} onClick={() => act(() => api.patch(planRef(name), { spec: { enabled: true } }))}>{t('center.enable')}</Button>}
                  {plan && installed && latest && latest !== installed && (
                    <Button size="xs" variant="light" disabled={busy} onClick={() => act(() => api.patch(planRef(name), { spec: { extension: { name, version: latest } } }))}>{t('center.upgrade', { version: latest })}</Button>
                  )}
                  {plan && <Button size="xs" color="red" variant="subtle" onClick={() => act(() => api.delete(planRef(name)))}>{t('center.uninstall')}</Button>}
                </Group>
              </Card>
            );
          })}
        </SimpleGrid>
      )}
    </Stack>
  );
}
