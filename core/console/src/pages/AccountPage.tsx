import { Alert, Button, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { ApiRequestError, useApi, useCurrentUser } from '@mortise/extension-sdk/console';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';

/** The user's own account: who they are, and changing their password (which ends every session). */
export default function AccountPage() {
  const { t } = useTranslation();
  const api = useApi();
  const user = useCurrentUser();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [result, setResult] = useState<{ ok: boolean; message: string }>();
  const change = async () => {
    try {
      await api.request(`/kapis/iam.mortise.io/v1alpha1/users/${encodeURIComponent(user.username)}/password`, { method: 'POST', json: { currentPassword: current, password: next } });
      setResult({ ok: true, message: t('account.changed') });
      // Tokens issued before the change are revoked: sign in again with the new password.
      setTimeout(() => location.assign('/'), 1500);
    } catch (e) {
      setResult({ ok: false, message: e instanceof ApiRequestError ? e.message : String(e) });
    }
  };
  return (
    <Stack maw={420}>
      <Title order={2}>{t('account.title')}</Title>
      <Text>{user.displayName ?? user.username} {user.email ? `· ${user.email}` : ''}</Text>
      <Title order={4}>{t('account.changePassword')}</Title>
      {result && <Alert color={result.ok ? 'green' : 'red'}>{result.message}</Alert>}
      <PasswordInput label={t('account.current')} value={current} onChange={(e) => setCurrent(e.currentTarget.value)} />
      <PasswordInput label={t('account.new')} value={next} onChange={(e) => setNext(e.currentTarget.value)} />
      <Button onClick={change} disabled={!current || !next}>{t('common.save')}</Button>
    </Stack>
  );
}
