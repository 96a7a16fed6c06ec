import { Alert, Anchor, Button, Center, Divider, Group, Paper, PasswordInput, SegmentedControl, Stack, TextInput, Title } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { languages, setLanguage } from '../i18n/i18n.js';
import { login, type IdentityProviderLink } from '../session/session.js';

/** Password sign-in, and a button per identity provider the core is configured with. */
export function LoginPage({ providers, onSignedIn }: { providers: IdentityProviderLink[]; onSignedIn: () => void }) {
  const { t, i18n } = useTranslation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(() => new URLSearchParams(location.search).get('error') ?? undefined);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    const problem = await login(username, password);
    setBusy(false);
    if (problem) setError(problem);
    else onSignedIn();
  };

  return (
    <Center mih="100vh" bg="var(--mantine-color-gray-0)">
      <Paper withBorder shadow="sm" p="xl" radius="md" w={380}>
        <form onSubmit={submit}>
          <Stack>
            <Group justify="space-between">
              <Title order={3}>{t('login.title')}</Title>
            </Group>
            {error && <Alert color="red" title={t('login.failed')} data-testid="login-error">{error}</Alert>}
            <TextInput label={t('login.username')} name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.currentTarget.value)} required />
            <PasswordInput label={t('login.password')} name="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} required />
            <Button type="submit" loading={busy} fullWidth>{t('login.submit')}</Button>
            {providers.length > 0 && <Divider label={t('login.or')} />}
            {providers.map((p) => (
              <Button key={p.name} component="a" variant="default" href={`/oauth/session/external/${encodeURIComponent(p.name)}`} fullWidth>
                {t('login.with', { name: p.displayName })}
              </Button>
            ))}
            <Group justify="center">
              <SegmentedControl size="xs" value={i18n.language} onChange={setLanguage} data={languages} />
            </Group>
            <Anchor size="xs" c="dimmed" ta="center" href="https://mortise.io" target="_blank" rel="noreferrer">Mortise</Anchor>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
