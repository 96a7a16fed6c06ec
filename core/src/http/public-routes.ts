/**
 * The only routes an anonymous caller may reach: logging in, the issuer's discovery, health,
 * and the console's static files. Everything else is authenticated and authorized; the
 * route-inventory test proves it for every route the router knows. The one other anonymous path is
 * an installed extension's declared webhooks (ReverseProxy `anonymous`, only under
 * /hooks/<extension>/, proxied to that backend alone: route-table.ts, gateway.test.ts).
 */
export const publicRoutes: ReadonlyArray<{ method: string; path: string | RegExp }> = [
  { method: 'POST', path: '/oauth/token' },
  { method: 'POST', path: '/oauth/revoke' },
  { method: 'GET', path: '/oauth/keys' },
  { method: 'GET', path: '/.well-known/openid-configuration' },
  // Logging in through an external identity provider (the browser is not logged in yet).
  { method: 'GET', path: '/oauth/authorize' },
  { method: 'GET', path: /^\/oauth\/callback\/[^/]+$/ },
  // The console's sign-in: it answers anonymous callers (the refresh and logout need the CSRF header).
  { method: 'GET', path: '/oauth/session' },
  { method: 'POST', path: '/oauth/session' },
  { method: 'POST', path: '/oauth/session/refresh' },
  { method: 'POST', path: '/oauth/session/logout' },
  { method: 'GET', path: /^\/oauth\/session\/external\/[^/]+$/ },
  { method: 'GET', path: '/oauth/session/callback' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/livez' },
  { method: 'GET', path: '/readyz' },
  // Installed extensions' UI modules and images, loaded by <script>/<img> tags without a token.
  { method: 'GET', path: /^\/extensions\/[a-z0-9-]+\/assets\/.+$/ },
  // The console: its page and its hashed files (pages of the console answer with the same page).
  { method: 'GET', path: '/' },
  { method: 'GET', path: /^\/static\/[A-Za-z0-9._/-]+$/ },
];

export function isPublic(method: string, path: string): boolean {
  const m = method === 'HEAD' ? 'GET' : method;
  return publicRoutes.some((r) => r.method === m && (typeof r.path === 'string' ? r.path === path : r.path.test(path)));
}
