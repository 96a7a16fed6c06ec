import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AppContext } from '../http/app-state.js';

// The console's browser session: the tokens live in httpOnly cookies page scripts cannot read,
// and writes made with those cookies must echo a CSRF token (double submit) that only pages of
// the core's own origin can read. Bearer-token clients (kubectl, the CLI) are unaffected.

export const sessionCookie = 'mortise_session';
export const refreshCookie = 'mortise_refresh';
export const csrfCookie = 'mortise_csrf';
export const csrfHeader = 'x-csrf-token';
/** Where the refresh cookie is sent: only to the session endpoints. */
export const sessionPath = '/oauth/session';

/** Cookies of the core's own: never forwarded to extension backends, never set by them. */
export const isCoreCookie = (name: string) => name.trim().startsWith('mortise_');

export const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

interface CookieOptions {
  maxAgeSeconds: number;
  path?: string;
  httpOnly?: boolean;
  secure: boolean;
}

function setCookie(ctx: AppContext, name: string, value: string, o: CookieOptions): void {
  const parts = [`${name}=${value}`, `Path=${o.path ?? '/'}`, `Max-Age=${o.maxAgeSeconds}`, 'SameSite=Strict'];
  if (o.httpOnly !== false) parts.push('HttpOnly');
  if (o.secure) parts.push('Secure');
  ctx.append('Set-Cookie', parts.join('; '));
}

const isSecure = (ctx: AppContext) => ctx.protocol === 'https';

/** Starts or renews a session: access and refresh tokens httpOnly, a fresh CSRF token readable. */
export function setSessionCookies(ctx: AppContext, tokens: { access_token: string; expires_in: number; refresh_token: string }, refreshTtlSeconds: number): string {
  const secure = isSecure(ctx);
  const csrf = randomBytes(24).toString('base64url');
  setCookie(ctx, sessionCookie, tokens.access_token, { maxAgeSeconds: tokens.expires_in, secure });
  setCookie(ctx, refreshCookie, tokens.refresh_token, { maxAgeSeconds: refreshTtlSeconds, path: sessionPath, secure });
  setCookie(ctx, csrfCookie, csrf, { maxAgeSeconds: refreshTtlSeconds, httpOnly: false, secure });
  ctx.set('Cache-Control', 'no-store');
  return csrf;
}

export function clearSessionCookies(ctx: AppContext): void {
  const secure = isSecure(ctx);
  setCookie(ctx, sessionCookie, '', { maxAgeSeconds: 0, secure });
  setCookie(ctx, refreshCookie, '', { maxAgeSeconds: 0, path: sessionPath, secure });
  setCookie(ctx, csrfCookie, '', { maxAgeSeconds: 0, httpOnly: false, secure });
}

/** A cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether the request echoes the CSRF cookie in the header (constant time). */
export function csrfMatches(headers: IncomingHttpHeaders): boolean {
  const cookie = cookieValue(headers.cookie, csrfCookie);
  const raw = headers[csrfHeader];
  const header = Array.isArray(raw) ? raw[0] : raw;
  if (!cookie || !header || cookie.length !== header.length) return false;
  return timingSafeEqual(Buffer.from(cookie), Buffer.from(header));
}

/** A Cookie header without the core's cookies (what a backend may see). */
export function withoutCoreCookies(cookieHeader: string): string {
  return cookieHeader.split(';').filter((c) => c.trim() && !isCoreCookie(c.split('=')[0]!)).map((c) => c.trim()).join('; ');
}
