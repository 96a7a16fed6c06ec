import { Alert, Card, Loader, Stack, Text, Title } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import styles from './hello.css';

interface Greeting {
  message: string;
  user: string;
}

/** Calls the backend through the core's gateway (the session cookie is the credential). */
export default function HelloPage() {
  const api = useApi();
  const { t } = useTranslation('ext:hello-world');
  const [greeting, setGreeting] = useState<Greeting | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api.request<Greeting>('/proxy/hello-world/hello').then(setGreeting, (e: Error) => setError(e.message));
  }, [api]);
  return (
    <Stack>
      <Title order={2}>{t('heading')}</Title>
      <Card withBorder className={styles.greeting}>
        {error ? <Alert color="red">{error}</Alert> : !greeting ? <Loader size="sm" /> : (
          <>
            <Text c="dimmed" size="sm">{t('from')}</Text>
            <Text size="xl" fw={600} data-testid="hello-message">{greeting.message}</Text>
            <Text size="sm" mt="xs">{t('as', { user: greeting.user })}</Text>
          </>
        )}
      </Card>
    </Stack>
  );
}
