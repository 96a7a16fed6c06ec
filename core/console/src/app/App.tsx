import '@mantine/core/styles.css';
import { Center, Loader, MantineProvider, createTheme } from '@mantine/core';
import { useCallback, useEffect, useState } from 'react';
import { I18nextProvider } from 'react-i18next';
import { BrowserRouter } from 'react-router-dom';
import { i18next } from '../i18n/i18n.js';
import { LoginPage } from '../pages/LoginPage.js';
import { loadSession, type SessionInfo } from '../session/session.js';
import { SignedInConsole } from './SignedInConsole.js';

const theme = createTheme({ primaryColor: 'indigo', defaultRadius: 'md' });

export function App() {
  const [session, setSession] = useState<SessionInfo | undefined>();
  const refresh = useCallback(() => {
    loadSession().then(setSession, () => setSession({ authenticated: false, providers: [] }));
  }, []);
  useEffect(refresh, [refresh]);

  return (
    <I18nextProvider i18n={i18next}>
      <MantineProvider theme={theme}>
        {!session ? (
          <Center mih="100vh"><Loader /></Center>
        ) : session.authenticated && session.user ? (
          <BrowserRouter>
            <SignedInConsole user={session.user} onSignedOut={() => setSession({ authenticated: false, providers: session.providers })} />
          </BrowserRouter>
        ) : (
          <LoginPage providers={session.providers} onSignedIn={() => {
            if (location.pathname === '/login') history.replaceState(null, '', '/');
            refresh();
          }} />
        )}
      </MantineProvider>
    </I18nextProvider>
  );
}
