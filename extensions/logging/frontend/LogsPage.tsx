import { Stack, Title } from '@mantine/core';
import type { PageProps } from '@mortise/extension-sdk/console';
import { useTranslation } from 'react-i18next';
import { LogSearch } from './LogSearch.js';

/** The search page: every stream the user may read, or one namespace's at namespace level. */
export default function LogsPage({ namespace }: PageProps) {
  const { t } = useTranslation('ext:logging');
  return (
    <Stack>
      <Title order={2}>{t('heading')}</Title>
      <LogSearch fixed={namespace ? { namespace } : {}} />
    </Stack>
  );
}
