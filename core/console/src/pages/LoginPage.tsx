import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { languages, setLanguage } from '../i18n/i18n.js';
import { login, type IdentityProviderLink } from '../session/session.js';
import styles from './LoginPage.module.css';

/**
 * Password sign-in, and a button per identity provider the core is configured with. Plain
 * elements and a CSS module, not the component library: this is the first paint, and the
 * library (the largest shared module) loads only once someone is signed in.
 */
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
    <div className={styles.screen}>
      <main className={styles.card}>
        <form className={styles.form} onSubmit={submit}>
          <h1 className={styles.title}>{t('login.title')}</h1>
          {error && (
            <div className={styles.error} role="alert" data-testid="login-error">
              <div className={styles.errorTitle}>{t('login.failed')}</div>
              {error}
            </div>
          )}
          <label className={styles.field}>
            {t('login.username')}
            <input className={styles.input} name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.currentTarget.value)} required />
          </label>
          <label className={styles.field}>
            {t('login.password')}
            <input className={styles.input} type="password" name="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} required />
          </label>
          <button className={styles.button} type="submit" disabled={busy}>{t('login.submit')}</button>
          {providers.length > 0 && <div className={styles.divider}>{t('login.or')}</div>}
          {providers.map((p) => (
            <a key={p.name} className={styles.secondary} href={`/oauth/session/external/${encodeURIComponent(p.name)}`}>
              {t('login.with', { name: p.displayName })}
            </a>
          ))}
          <div className={styles.languages}>
            {languages.map((l) => (
              <button key={l.value} type="button" className={i18n.language === l.value ? styles.active : styles.language} aria-pressed={i18n.language === l.value} onClick={() => setLanguage(l.value)}>
                {l.label}
              </button>
            ))}
          </div>
          <a className={styles.link} href="https://mortise.io" target="_blank" rel="noreferrer">Mortise</a>
        </form>
      </main>
    </div>
  );
}
