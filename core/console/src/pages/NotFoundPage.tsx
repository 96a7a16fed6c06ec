import { Stack, Text, Title } from '@mantine/core';
import { useTranslation } from 'react-i18next';

export default function NotFoundPage() {
  const { t } = useTranslation();
  return (
    <Stack p="xl" gap="xs">
      <Title order={3}>{t('extension.notFound')}</Title>
      <Text c="dimmed">{t('extension.notFoundText')}</Text>
    </Stack>
  );
}
