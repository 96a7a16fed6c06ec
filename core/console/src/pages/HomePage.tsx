import { Badge, Card, Group, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { localize, useConsole } from '@mortise/extension-sdk/console';
import { useTranslation } from 'react-i18next';
import { AccessGate } from '../app/AccessGate.js';
import { ExtensionComponent } from '../extensions/ExtensionComponent.js';
import { ExtensionErrorCard } from '../extensions/ExtensionErrorCard.js';
import { useExtensions, useRegistry } from '../extensions/ExtensionsContext.js';

/** The overview of a level: the extensions' dashboard cards for it, and any extension in trouble. */
export default function HomePage() {
  const { t, i18n } = useTranslation();
  const runtime = useConsole();
  const registry = useRegistry();
  const extensions = useExtensions();
  const level = runtime.scope.namespace ? 'namespace' : runtime.scope.workspace ? 'workspace' : 'platform';
  const cards = extensions.flatMap((e) => (e.module?.dashboardCards ?? []).filter((c) => (c.level ?? 'platform') === level).map((c) => ({ ...c, extension: e.name })));
  return (
    <Stack>
      <Title order={2}>{runtime.scope.namespace ?? runtime.scope.workspace ?? t('home.welcome', { name: runtime.user.displayName ?? runtime.user.username })}</Title>
      <Text c="dimmed">{t('home.intro')}</Text>
      {extensions.filter((e) => e.state === 'failed').map((e) => (
        <ExtensionErrorCard key={e.name} name={e.name} error={e.error ?? ''} retryAt={e.retryAt} onRetry={() => void registry.load(e.name)} />
      ))}
      {cards.length > 0 && (
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          {cards.map((c) => (
            <AccessGate key={`${c.extension}/${c.id}`} checks={c.requires}>
              <Card withBorder>
                <Text fw={600} mb="xs">{localize(c.title, i18n.language)}</Text>
                <ExtensionComponent extension={c.extension} load={c.component} props={runtime.scope} />
              </Card>
            </AccessGate>
          ))}
        </SimpleGrid>
      )}
      <Title order={4} mt="md">{t('home.installed')}</Title>
      {extensions.length === 0 ? <Text c="dimmed">{t('home.none')}</Text> : (
        <Group>
          {extensions.map((e) => <Badge key={e.name} color={e.state === 'failed' ? 'red' : e.state === 'loaded' ? 'green' : 'gray'} variant="light">{e.name}</Badge>)}
        </Group>
      )}
    </Stack>
  );
}
