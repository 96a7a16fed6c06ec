import { Alert, Button, Group, Text } from '@mantine/core';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';

/** What a broken extension looks like: its name, what went wrong, and a way to try again. */
export function ExtensionErrorCard(props: { name: string; error: string; retryAt?: number; onRetry: () => void }) {
  const { t } = useTranslation();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!props.retryAt) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [props.retryAt]);
  const seconds = props.retryAt ? Math.max(0, Math.ceil((props.retryAt - now) / 1000)) : undefined;
  return (
    <Alert color="red" variant="light" title={t('extension.failed', { name: props.name })} data-testid={`extension-error-${props.name}`} role="alert">
      <Text size="sm" mb="sm" style={{ wordBreak: 'break-word' }}>{props.error}</Text>
      <Group gap="sm">
        <Button size="xs" color="red" variant="outline" onClick={props.onRetry}>{t('extension.retry')}</Button>
        {seconds !== undefined && <Text size="xs" c="dimmed">{t('extension.retrying', { seconds })}</Text>}
      </Group>
    </Alert>
  );
}
