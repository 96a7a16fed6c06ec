import { isReservedGroup, normalizePrefix, type Route, type RouteMatch } from './route-table.js';

// Development routes: `mortise-ext dev` runs an extension's backend on the developer's machine and
// registers it here, for the developer alone. The gateway sends the developer's own requests under
// the extension's paths to it (with their real, forwarded identity) and everyone else's to the
// installed extension as before. Kept in memory with an expiry the dev loop renews, so a dev
// session that dies without saying goodbye stops being served within its TTL.

export interface DevRouteSpec {
  extension: string;
  /** Where the developer's backend listens (http(s)). */
  url: string;
  reverseProxies: Array<{ prefix: string; stripPrefix?: boolean }>;
  apiServices: Array<{ group: string; version: string }>;
  /**
   * The developer's frontend build: their browser's requests for the extension's assets under
   * `/extensions/<extension>/assets/<directory>/` are served from `url` (their machine).
   */
  frontend?: { url: string; directory: string };
  ttlSeconds: number;
}

export interface DevRoute extends DevRouteSpec {
  user: string;
  expiresAt: string;
}

export class DevRoutes {
  /** user → extension → route. */
  private readonly byUser = new Map<string, Map<string, DevRoute & { routes: Route[]; assets?: Route }>>();

  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Called when a developer's route is set or removed (the native edge forgets its decisions). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.changeListeners) l();
  }

  set(user: string, spec: DevRouteSpec): DevRoute {
    const expiresAt = new Date(this.now() + spec.ttlSeconds * 1000).toISOString();
    const upstream = new URL(spec.url);
    const base = { extension: spec.extension, enabled: true, upstream, headerUp: {}, headerDown: {}, removeHeaders: [] as string[], created: '', dev: true };
    const routes: Route[] = [
      ...spec.apiServices.map((a): Route => ({ ...base, kind: 'apiservice', name: `dev:${user}:${a.group}`, prefix: `/kapis/${a.group}/${a.version}` })),
      ...spec.reverseProxies.map((p): Route => {
        const prefix = normalizePrefix(p.prefix);
        return { ...base, kind: 'reverseproxy', name: `dev:${user}:${prefix}`, prefix, ...(p.stripPrefix ? { stripPathPrefix: prefix } : {}) };
      }),
    ].sort((a, b) => b.prefix.length - a.prefix.length);
    const assetsPrefix = spec.frontend && `/extensions/${spec.extension}/assets/${spec.frontend.directory}`;
    const assets: Route | undefined = spec.frontend && assetsPrefix
      ? { ...base, upstream: new URL(spec.frontend.url), kind: 'reverseproxy', name: `dev:${user}:${assetsPrefix}`, prefix: assetsPrefix, stripPathPrefix: assetsPrefix }
      : undefined;
    const route = { ...spec, user, expiresAt, routes, ...(assets ? { assets } : {}) };
    let mine = this.byUser.get(user);
    if (!mine) this.byUser.set(user, (mine = new Map()));
    mine.set(spec.extension, route);
    this.changed();
    return view(route);
  }

  delete(user: string, extension: string): boolean {
    const mine = this.byUser.get(user);
    const had = mine?.delete(extension) ?? false;
    if (mine && mine.size === 0) this.byUser.delete(user);
    if (had) this.changed();
    return had;
  }

  list(user: string): DevRoute[] {
    this.expire(user);
    return [...(this.byUser.get(user)?.values() ?? [])].map(view);
  }

  /** Whether any developer's route covers this path (so the gateway looks at it even when no installed route does). */
  claims(path: string): boolean {
    if (this.byUser.size === 0) return false;
    for (const user of [...this.byUser.keys()]) {
      this.expire(user);
      for (const r of this.byUser.get(user)?.values() ?? []) if (r.routes.some((route) => underPrefix(path, route.prefix))) return true;
    }
    return false;
  }

  /** Whether any developer serves their own frontend build under this asset path. */
  claimsAssets(path: string): boolean {
    if (this.byUser.size === 0 || !path.startsWith('/extensions/')) return false;
    for (const user of [...this.byUser.keys()]) {
      this.expire(user);
      for (const r of this.byUser.get(user)?.values() ?? []) if (r.assets && underPrefix(path, r.assets.prefix)) return true;
    }
    return false;
  }

  /** The developer's own frontend build for this asset request, if they registered one. */
  matchAssets(user: string, path: string, search: string): RouteMatch | undefined {
    if (!this.byUser.has(user)) return undefined;
    this.expire(user);
    for (const r of this.byUser.get(user)?.values() ?? []) {
      if (r.assets && underPrefix(path, r.assets.prefix)) return { route: r.assets, upstreamPath: (path.slice(r.assets.prefix.length) || '/') + search, strippedPrefix: r.assets.prefix };
    }
    return undefined;
  }

  /** The developer's own route for this request, if they registered one. */
  match(user: string, path: string, search: string): RouteMatch | undefined {
    if (!this.byUser.has(user)) return undefined;
    this.expire(user);
    for (const r of this.byUser.get(user)?.values() ?? []) {
      for (const route of r.routes) {
        if (!underPrefix(path, route.prefix)) continue;
        if (route.kind === 'apiservice') return { route, upstreamPath: path + search };
        const strip = route.stripPathPrefix;
        const rest = strip ? path.slice(strip.length) || '/' : path;
        return { route, upstreamPath: rest + search, ...(strip ? { strippedPrefix: strip } : {}) };
      }
    }
    return undefined;
  }

  private expire(user: string): void {
    const mine = this.byUser.get(user);
    if (!mine) return;
    const now = this.now();
    for (const [ext, r] of mine) if (Date.parse(r.expiresAt) <= now) mine.delete(ext);
    if (mine.size === 0) this.byUser.delete(user);
  }
}

function view(r: DevRoute & { routes?: Route[]; assets?: Route }): DevRoute {
  const { routes: _routes, assets: _assets, ...rest } = r;
  return rest;
}

function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);
}

/** Problems with a dev-route request body, as `field: message`. */
export function devRouteProblems(extension: string, body: unknown): { spec?: DevRouteSpec; problems: string[] } {
  const problems: string[] = [];
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) problems.push('body: must be a JSON object');
  const url = httpUrl(b.url, 'url', 'the development backend', problems);
  let frontend: DevRouteSpec['frontend'];
  if (b.frontend !== undefined) {
    const f = (typeof b.frontend === 'object' && b.frontend !== null ? b.frontend : {}) as Record<string, unknown>;
    const at = httpUrl(f.url, 'frontend.url', 'the development frontend build is served', problems);
    const directory = f.directory;
    if (typeof directory !== 'string' || directory.length > 255 || directory.split('/').some((s) => s === '' || s === '.' || s === '..' || !/^[A-Za-z0-9._-]+$/.test(s))) {
      problems.push('frontend.directory: must be the relative directory of frontend.remoteEntry (e.g. dist/frontend)');
    } else if (at) frontend = { url: at.href, directory };
  }
  const proxies = Array.isArray(b.reverseProxies) ? b.reverseProxies : b.reverseProxies === undefined ? [] : (problems.push('reverseProxies: must be an array'), []);
  const reverseProxies: DevRouteSpec['reverseProxies'] = [];
  proxies.forEach((p: unknown, i) => {
    const prefix = (p as { prefix?: unknown })?.prefix;
    if (typeof prefix !== 'string' || !(prefix === `/proxy/${extension}/` || prefix.startsWith(`/proxy/${extension}/`))) {
      problems.push(`reverseProxies[${i}].prefix: must lie under /proxy/${extension}/ (an extension's own paths)`);
    } else reverseProxies.push({ prefix, stripPrefix: (p as { stripPrefix?: unknown }).stripPrefix === true });
  });
  const groups = Array.isArray(b.apiServices) ? b.apiServices : b.apiServices === undefined ? [] : (problems.push('apiServices: must be an array'), []);
  const apiServices: DevRouteSpec['apiServices'] = [];
  groups.forEach((a: unknown, i) => {
    const { group, version } = (a ?? {}) as { group?: unknown; version?: unknown };
    if (typeof group !== 'string' || typeof version !== 'string' || !/^[a-z0-9.-]+$/.test(group) || !/^v[0-9a-z]+$/.test(version)) problems.push(`apiServices[${i}]: needs a group and a version`);
    else if (isReservedGroup(group)) problems.push(`apiServices[${i}].group: ${group} is served by the core`);
    else apiServices.push({ group, version });
  });
  if (reverseProxies.length + apiServices.length === 0 && problems.length === 0) problems.push('reverseProxies, apiServices: at least one route is needed');
  const ttl = b.ttlSeconds === undefined ? 60 : b.ttlSeconds;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 5 || ttl > 3600) problems.push('ttlSeconds: must be an integer from 5 to 3600');
  if (problems.length > 0 || !url) return { problems };
  return { spec: { extension, url: url.href, reverseProxies, apiServices, ...(frontend ? { frontend } : {}), ttlSeconds: ttl as number }, problems };
}

function httpUrl(raw: unknown, field: string, what: string, problems: string[]): URL | undefined {
  try {
    const url = new URL(String(raw));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`${field}: must be an http(s) URL`);
    else if (url.username || url.password) problems.push(`${field}: must not carry credentials`);
    else return url;
  } catch {
    problems.push(`${field}: must be the URL where ${what} listens (http://127.0.0.1:PORT)`);
  }
  return undefined;
}
