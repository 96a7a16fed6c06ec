import { Card, Stack, Text, Title } from '@mantine/core';
import type { PageProps } from '@mortise/extension-sdk/console';
import { useTranslation } from 'react-i18next';

/** `/x/hello-world/greet/:name`: a route parameter, handed to the page by the console. */
export default function GreetPage({ params }: PageProps) {
  const { t } = useTranslation('ext:hello-world');
  return (
    <Stack>
      <Title order={2}>{t('heading')}</Title>
      <Card withBorder>
        <Text size="xl" fw={600} data-testid="greet-message">{t('greet', { name: params?.name ?? '' })}</Text>
      </Card>
    </Stack>
  );
}
