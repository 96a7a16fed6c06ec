import { Alert, Anchor, Badge, Card, Group, Image, Loader, Progress, Select, SimpleGrid, Stack, Tabs, Text, Title } from '@mantine/core';
import { ApiRequestError, localize, useApi } from '@mortise/extension-sdk/console';
import type { RJSFSchema } from '@rjsf/utils';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useParams } from 'react-router-dom';
import { useWatchedList } from '../../app/use-watched-list.js';
import { ConfigForm } from './ConfigForm.js';
import { busyStates, configPatch, mediaUrl, planProblem, group, stateColor, stateProgress, version as apiVersion, versionObjectName, type ExtensionObject, type InstallPlan } from './extension-center-api.js';
import { Readme } from './Readme.js';
import { AccessGate } from '../../app/AccessGate.js';
import { ExtensionComponent } from '../../extensions/ExtensionComponent.js';
import { useExtensions } from '../../extensions/ExtensionsContext.js';

interface VersionDetails {
  configSchema: RJSFSchema | null;
  config: Record<string, unknown>;
  icon: string | null;
  screenshots: string[];
}

const kapis = `/kapis/${group}/${apiVersion}`;

/** One extension: README, icon and screenshots, versions, install state, and its configuration form. */
export default function ExtensionDetails() {
  const { name = '' } = useParams();
  const { t, i18n } = useTranslation();
  const api = useApi();
  const [ext, setExt] = useState<ExtensionObject | undefined>();
  const [error, setError] = useState<string | undefined>();
  const plans = useWatchedList<InstallPlan>({ group, version: apiVersion, resource: 'installplans' });
  const plan = plans.items?.find((p) => p.metadata.name === name);
  const installed = plan?.status?.installedVersion;
  const [chosen, setChosen] = useState<string | null>(null);
  const offered = ext?.status?.recommendedVersion ?? ext?.status?.latestVersion;
  const shown = installed ?? plan?.spec.extension.version ?? chosen ?? offered;
  const [readme, setReadme] = useState<string | null | undefined>();
  const [details, setDetails] = useState<VersionDetails | undefined>();
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  // Tabs enabled extensions add to every installed extension's page (e.g. "Logs" of its backend).
  const extensionTabs = useExtensions().flatMap((e) => (e.module?.extensionTabs ?? []).map((tab) => ({ ...tab, from: e.name, key: `${e.name}/${tab.id}` })));

  useEffect(() => {
    api.get<ExtensionObject>({ group, version: apiVersion, resource: 'extensions', name }).then(setExt, (e: Error) => setError(e.message));
  }, [api, name]);

  useEffect(() => {
    if (!shown) return;
    const object = versionObjectName(name, shown);
    setReadme(undefined);
    setDetails(undefined);
    api.fetch(`${kapis}/extensionversions/${object}/readme`, { headers: { Accept: 'text/markdown' } })
      .then(async (r) => setReadme(r.ok ? await r.text() : null), () => setReadme(null));
    api.request<VersionDetails>(`${kapis}/extensionversions/${object}/details`).then(setDetails, (e: Error) => setError(e.message));
  }, [api, name, shown, installed]);

  const submit = async (config: Record<string, unknown>) => {
    setError(undefined);
    setSaved(false);
    setSaving(true);
    const ref = { group, version: apiVersion, resource: 'installplans' };
    try {
      if (!plan) {
        await api.create(ref, { apiVersion: `${group}/${apiVersion}`, kind: 'InstallPlan', metadata: { name }, spec: { extension: { name, version: shown! }, enabled: true, config } });
      } else {
        await api.patch({ ...ref, name }, { spec: { config: configPatch(plan.spec.config ?? {}, config) } });
        setSaved(true);
      }
    } catch (e) {
      setError(e instanceof ApiRequestError ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  };

  if (!ext) return error ? <Alert color="red" title={t('common.error')}>{error}</Alert> : <Loader size="sm" />;
  const state = plan?.status?.state ?? (plan ? 'Pending' : undefined);
  const busy = state ? busyStates.has(state) : false;
  const problem = planProblem(plan);
  // The README's relative links point into the public assets of the installed version.
  const assets = installed && plan?.spec.enabled !== false ? `/extensions/${name}/assets/` : undefined;
  // The icon and screenshots of whichever version is shown, installed or not (an authenticated API).
  const media = (path: string) => mediaUrl(name, shown!, path);
  const value = { ...(details?.config ?? {}), ...(plan?.spec.config ?? {}) };

  return (
    <Stack data-testid={`extension-details-${name}`}>
      <Anchor component={Link} to="/extension-center" size="sm">← {t('center.back')}</Anchor>
      <Group align="flex-start" wrap="nowrap">
        {details?.icon && <Image src={media(details.icon)} alt="" w={56} h={56} fit="contain" data-testid="extension-icon" />}
        <Stack gap={4}>
          <Group>
            <Title order={2}>{localize(ext.spec.displayName ?? name, i18n.language)}</Title>
            {state && <Badge color={stateColor(state)} data-testid={`extension-state-${name}`}>{state}</Badge>}
          </Group>
          <Text c="dimmed">{localize(ext.spec.description ?? '', i18n.language)}</Text>
          <Text size="xs" c="dimmed">{ext.spec.category ?? ''} · {ext.spec.provider?.name ?? ''}{ext.spec.license ? ` · ${ext.spec.license}` : ''}</Text>
        </Stack>
      </Group>
      {busy && <Progress value={stateProgress[state!] ?? 50} animated aria-label={t('center.progress')} />}
      {problem && <Alert color="red" title={/Failed/.test(state ?? '') ? state : t('center.configRefused')} data-testid="install-failure">{problem}</Alert>}
      {error && <Alert color="red" title={t('common.error')} withCloseButton onClose={() => setError(undefined)} data-testid="details-error">{error}</Alert>}
      <Group>
        <Select
          label={t('center.version')} w={200} aria-label={t('center.version')}
          data={(ext.status?.versions ?? []).map((v) => ({ value: v.version, label: `${v.version}${v.yanked ? ' (yanked)' : ''}`, disabled: v.yanked || !v.compatible }))}
          value={shown ?? null} onChange={setChosen} disabled={!!plan}
        />
        {installed && <Text size="sm" mt="lg">{t('center.installed')}: {installed}</Text>}
      </Group>
      <Tabs defaultValue="readme" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="readme">{t('center.readme')}</Tabs.Tab>
          <Tabs.Tab value="config">{t('center.config')}</Tabs.Tab>
          {(details?.screenshots.length ?? 0) > 0 && <Tabs.Tab value="screenshots">{t('center.screenshots')}</Tabs.Tab>}
          {installed && extensionTabs.map((tab) => (
            <AccessGate key={tab.key} checks={tab.requires}>
              <Tabs.Tab value={tab.key}>{localize(tab.title, i18n.language)}</Tabs.Tab>
            </AccessGate>
          ))}
        </Tabs.List>
        <Tabs.Panel value="readme" pt="md">
          {readme === undefined ? <Loader size="sm" /> : readme === null ? <Text c="dimmed">{t('center.noReadme')}</Text> : <Readme text={readme} assetsBase={assets} />}
        </Tabs.Panel>
        <Tabs.Panel value="config" pt="md">
          {!details ? <Loader size="sm" /> : (
            <Card withBorder maw={640}>
              {saved && <Alert color="green" mb="sm" withCloseButton onClose={() => setSaved(false)}>{t('center.configSaved')}</Alert>}
              <ConfigForm
                schema={details.configSchema ?? { type: 'object', properties: {} }}
                value={value}
                busy={saving || busy}
                submitLabel={plan ? t('center.save') : t('center.install')}
                onSubmit={submit}
              />
            </Card>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="screenshots" pt="md">
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            {details?.screenshots.map((s) => <Image key={s} src={media(s)} alt={s} radius="sm" />)}
          </SimpleGrid>
        </Tabs.Panel>
        {installed && plan && extensionTabs.map((tab) => (
          <Tabs.Panel key={tab.key} value={tab.key} pt="md">
            <ExtensionComponent extension={tab.from} load={tab.component} props={{ extension: name, installPlan: plan as never }} />
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}
