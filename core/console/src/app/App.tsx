import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { I18nextProvider } from 'react-i18next';
import { i18next } from '../i18n/i18n.js';
import { LoginPage } from '../pages/LoginPage.js';
import styles from '../pages/LoginPage.module.css';
import { loadSession, type SessionInfo } from '../session/session.js';

// The component library and the console load after the first paint (see SignedInApp).
const loadSignedIn = () => import('./SignedInApp.js');
const SignedInApp = lazy(loadSignedIn);

const Waiting = () => <div className={styles.centered} aria-busy="true">Mortise</div>;

export function App() {
  const [session, setSession] = useState<SessionInfo | undefined>();
  const refresh = useCallback(() => {
    loadSession().then(setSession, () => setSession({ authenticated: false, providers: [] }));
  }, []);
  useEffect(refresh, [refresh]);
  // On the login page, fetch the console once the user starts signing in (after the first paint).
  useEffect(() => {
    if (!session || session.authenticated) return;
    const prefetch = () => void loadSignedIn();
    addEventListener('focusin', prefetch, { once: true });
    return () => removeEventListener('focusin', prefetch);
  }, [session]);

  return (
    <I18nextProvider i18n={i18next}>
      {!session ? (
        <Waiting />
      ) : session.authenticated && session.user ? (
        <Suspense fallback={<Waiting />}>
          <SignedInApp user={session.user} onSignedOut={() => setSession({ authenticated: false, providers: session.providers })} />
        </Suspense>
      ) : (
        <LoginPage providers={session.providers} onSignedIn={() => {
          if (location.pathname === '/login') history.replaceState(null, '', '/');
          refresh();
        }} />
      )}
    </I18nextProvider>
  );
}
