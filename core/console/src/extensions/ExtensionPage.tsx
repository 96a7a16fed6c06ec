import { Center, Loader, Stack, Text, Title } from '@mantine/core';
import { useParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import type { ConsoleLevel } from '@mortise/extension-sdk/console';
import { ExtensionComponent } from './ExtensionComponent.js';
import { ExtensionErrorCard } from './ExtensionErrorCard.js';
import { useExtensions, useRegistry } from './ExtensionsContext.js';
import { routeParams } from './paths.js';
import { AccessGate } from '../app/AccessGate.js';

/** `/…/x/<extension>/<rest>`: the extension's route for `rest`, loaded when first opened. */
export function ExtensionPage({ level }: { level: ConsoleLevel }) {
  const { t } = useTranslation();
  const params = useParams();
  const name = params.ext!;
  const rest = params['*'] ?? '';
  const registry = useRegistry();
  const entry = useExtensions().find((e) => e.name === name);
  if (!entry) return <NotFound title={t('extension.notFound')} text={t('extension.notFoundText')} />;
  if (entry.state === 'failed') return <ExtensionErrorCard name={name} error={entry.error ?? ''} retryAt={entry.retryAt} onRetry={() => void registry.load(name)} />;
  if (entry.state === 'pending') return <Center p="xl"><Loader size="sm" aria-label={t('extension.loading', { name })} /></Center>;
  const matched = (entry.module?.routes ?? [])
    .filter((r) => (r.level ?? 'platform') === level)
    .map((r) => ({ route: r, routeParams: routeParams(r.path, rest) }))
    .find((m) => m.routeParams !== undefined);
  if (!matched) return <NotFound title={t('extension.notFound')} text={t('extension.notFoundText')} />;
  const { route } = matched;
  return (
    <AccessGate checks={route.requires}>
      <ExtensionComponent extension={name} load={route.component} props={{ workspace: params.workspace, namespace: params.namespace, params: matched.routeParams! }} />
    </AccessGate>
  );
}

function NotFound({ title, text }: { title: string; text: string }) {
  return (
    <Stack p="xl" gap="xs">
      <Title order={3}>{title}</Title>
      <Text c="dimmed">{text}</Text>
    </Stack>
  );
}
