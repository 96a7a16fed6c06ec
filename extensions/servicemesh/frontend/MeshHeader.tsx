import { Group, NativeSelect, Tabs, Title } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useLocation, useNavigate, useParams, useSearchParams } from 'react-router-dom';

/** The page's title, tabs and namespace (kept in `?ns=`). */
export function useNamespace(): [string, (ns: string) => void] {
  const [params, setParams] = useSearchParams();
  const ns = params.get('ns') ?? 'default';
  return [ns, (v) => setParams((p) => {
    p.set('ns', v);
    return p;
  })];
}

export function MeshHeader({ tab }: { tab: 'topology' | 'releases' | 'traces' }) {
  const api = useApi();
  const { t } = useTranslation('ext:servicemesh');
  const [ns, setNs] = useNamespace();
  const [namespaces, setNamespaces] = useState<string[]>([ns]);
  const navigate = useNavigate();
  const location = useLocation();
  const root = location.pathname.replace(/\/(releases|traces)(\/.*)?$/, '').replace(/\/$/, '');
  useEffect(() => {
    api.list({ group: '', version: 'v1', resource: 'namespaces' }).then((l) => setNamespaces(l.items.map((n) => n.metadata.name!)), () => undefined);
  }, [api]);
  return (
    <Group justify="space-between" mb="md">
      <Title order={2}>{t('title')}</Title>
      <Group>
        <Tabs value={tab} onChange={(v) => navigate(`${root}${v === 'topology' ? '' : `/${v}`}?ns=${encodeURIComponent(ns)}`)}>
          <Tabs.List>
            <Tabs.Tab value="topology">{t('topology')}</Tabs.Tab>
            <Tabs.Tab value="releases">{t('releases')}</Tabs.Tab>
            <Tabs.Tab value="traces">{t('traces')}</Tabs.Tab>
          </Tabs.List>
        </Tabs>
        <NativeSelect aria-label={t('namespace')} value={ns} data={[...new Set([ns, ...namespaces])]} onChange={(e) => setNs(e.currentTarget.value)} />
      </Group>
    </Group>
  );
}

/** Polls `load` every `ms` while mounted. */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[]): { data?: T; error?: string } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  useEffect(() => {
    let live = true;
    const tick = () => load().then((data) => live && setState({ data }), (e: Error) => live && setState((s) => ({ ...s, error: e.message })));
    tick();
    const timer = setInterval(tick, ms);
    return () => {
      live = false;
      clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

/**
 * The segments of this page's path after the extension's base (`services/<ns>/<name>` → those
 * three): the console matches `:param` routes but hands pages no params, only `*`, the rest.
 */
export function usePathSegments(): string[] {
  const params = useParams();
  return (params['*'] ?? '').split('/').filter(Boolean).map(decodeURIComponent);
}
