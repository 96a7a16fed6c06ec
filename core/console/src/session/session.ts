import { csrfCookieName, csrfHeaderName, readCookie, refreshSession, type CurrentUser } from '@mortise/extension-sdk/console';

// Signing in and out. The core keeps the tokens in httpOnly cookies; this page only ever sees
// who is signed in, and echoes the CSRF cookie on writes.

export interface IdentityProviderLink {
  name: string;
  displayName: string;
}

export interface SessionInfo {
  authenticated: boolean;
  user?: CurrentUser;
  providers: IdentityProviderLink[];
}

const getSession = async (): Promise<SessionInfo> => {
  const res = await fetch('/oauth/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET /oauth/session: HTTP ${res.status}`);
  return (await res.json()) as SessionInfo;
};

/** Who is signed in; an expired access cookie is renewed once through the refresh cookie. */
export async function loadSession(): Promise<SessionInfo> {
  const first = await getSession();
  if (first.authenticated || !readCookie(csrfCookieName)) return first;
  return (await refreshSession()) ? getSession() : first;
}

export async function login(username: string, password: string): Promise<string | undefined> {
  const res = await fetch('/oauth/session', {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ username, password }),
  });
  if (res.ok) return undefined;
  const body = (await res.json().catch(() => ({}))) as { error_description?: string };
  return body.error_description ?? `HTTP ${res.status}`;
}

export async function logout(): Promise<void> {
  await fetch('/oauth/session/logout', { method: 'POST', credentials: 'same-origin', headers: { [csrfHeaderName]: readCookie(csrfCookieName) ?? '' } });
}
