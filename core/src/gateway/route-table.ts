import { RESERVED_API_GROUPS, RESERVED_PATH_SEGMENTS } from '@mortise/extension-sdk/manifest';
import type { Logger } from 'pino';
import { extensionLabel, extensionsGroup } from '../schemas/extensions.js';
import { isProxyOrderHeader } from './headers.js';
import type { KubeObject, ResourceRef, ResourceStore, Watcher } from '../store/resource-store.js';

// Where extension traffic goes: every APIService and ReverseProxy, kept in memory and current by
// watching the store (list, then watch from the list's resourceVersion), so a route created,
// changed, disabled or deleted through the API takes effect with the next request.

export type RouteKind = 'apiservice' | 'reverseproxy';

export interface Route {
  kind: RouteKind;
  /** The APIService's or ReverseProxy's name. */
  name: string;
  /** From the `extensions.mortise.io/extension` label (the object's name when unlabelled). */
  extension: string;
  /** `spec.enabled !== false`. */
  enabled: boolean;
  /** The backend's base URL; undefined when `problem` says why it cannot be used. */
  upstream?: URL;
  /** Why the route cannot be proxied (a bad upstream URL): answered 502, never guessed around. */
  problem?: string;
  /** The matched path without a trailing slash: `/proxy/hello-world`, `/kapis/devops.mortise.io/v1alpha1`. */
  prefix: string;
  /** Upper-cased methods the route is limited to (ReverseProxy `matcher.method`); undefined for all. */
  methods?: string[];
  /** Reached without a login (a manifest webhook under /hooks/<extension>/): the backend authenticates the caller. */
  anonymous?: boolean;
  /** Removed from the path (whole segments) before forwarding. */
  stripPathPrefix?: string;
  headerUp: Record<string, string>;
  headerDown: Record<string, string>;
  removeHeaders: string[];
  /** For choosing between routes that claim the same prefix: the oldest enabled one wins. */
  created: string;
  /** A developer's own route (`mortise-ext dev`): no runtime health of its own. */
  dev?: boolean;
}

export interface RouteMatch {
  route: Route;
  /** Path (and query) to request from the upstream, its base path included. */
  upstreamPath: string;
  /** What was stripped (for X-Forwarded-Prefix), when anything was. */
  strippedPrefix?: string;
}

const refs = {
  apiservices: { group: extensionsGroup, resource: 'apiservices' },
  reverseproxies: { group: extensionsGroup, resource: 'reverseproxies' },
} satisfies Record<string, ResourceRef>;

/** API groups the core answers under /kapis itself: an APIService may never shadow them. */
const coreGroups = new Set([...RESERVED_API_GROUPS, 'audit.mortise.io', 'authorization.k8s.io']);
/** First path segments the core answers itself (a ReverseProxy may never shadow them). */
const corePathSegments = new Set([...RESERVED_PATH_SEGMENTS, 'version', 'openapi', 'favicon.ico']);

export function isReservedGroup(group: string): boolean {
  return coreGroups.has(group) || group === 'k8s.io' || group.endsWith('.k8s.io');
}

export class RouteTable {
  private readonly objects = { apiservices: new Map<string, KubeObject>(), reverseproxies: new Map<string, KubeObject>() };
  private readonly watchers: Watcher[] = [];
  private readonly listeners = new Set<() => void>();
  /** `${group}/${version}` → the route serving it. */
  private apiServices = new Map<string, Route>();
  /** Longest prefix first. */
  private proxies: Route[] = [];
  private all: Route[] = [];
  /** Problems already logged, so a bad object is reported once, not per rebuild. */
  private readonly reported = new Set<string>();

  constructor(private readonly store: ResourceStore, private readonly logger?: Logger) {}

  async start(): Promise<void> {
    for (const [kind, ref] of Object.entries(refs) as Array<[keyof typeof refs, ResourceRef]>) {
      const page = await this.store.list(ref);
      const map = this.objects[kind];
      for (const o of page.items) map.set(o.metadata.name!, o);
      this.watchers.push(this.store.watch(ref, { sinceResourceVersion: page.resourceVersion, cache: true }, (e) => {
        if (e.type === 'DELETED') map.delete(e.object.metadata.name!);
        else map.set(e.object.metadata.name!, e.object);
        this.rebuild();
      }));
    }
    this.rebuild();
  }

  stop(): void {
    for (const w of this.watchers.splice(0)) w.stop();
  }

  /** Called after every change (the gateway drops connection pools nobody routes to). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  routes(): readonly Route[] {
    return this.all;
  }

  /** The route a request goes to, or undefined when the gateway does not serve the path. */
  match(method: string, path: string, search = ''): RouteMatch | undefined {
    if (path.startsWith('/kapis/')) {
      const [, , group, version] = path.split('/', 4);
      const route = group && version ? this.apiServices.get(`${group}/${version}`) : undefined;
      if (route && underPrefix(path, route.prefix)) return { route, upstreamPath: joinPath(route.upstream?.pathname, path) + search };
      return undefined;
    }
    const m = method.toUpperCase();
    for (const route of this.proxies) {
      if (!underPrefix(path, route.prefix)) continue;
      if (route.methods && !route.methods.includes(m) && !(m === 'HEAD' && route.methods.includes('GET'))) continue;
      let rest = path;
      let strippedPrefix: string | undefined;
      if (route.stripPathPrefix && underPrefix(path, route.stripPathPrefix)) {
        rest = path.slice(route.stripPathPrefix.length) || '/';
        strippedPrefix = route.stripPathPrefix;
      }
      return { route, upstreamPath: joinPath(route.upstream?.pathname, rest) + search, ...(strippedPrefix ? { strippedPrefix } : {}) };
    }
    return undefined;
  }

  private rebuild(): void {
    const apiServices = new Map<string, Route>();
    for (const o of this.objects.apiservices.values()) {
      const route = this.apiServiceRoute(o);
      if (!route) continue;
      const key = route.prefix.slice('/kapis/'.length);
      const other = apiServices.get(key);
      if (!other || preferred(route, other)) apiServices.set(key, route);
    }
    const byPrefix = new Map<string, Route[]>();
    for (const o of this.objects.reverseproxies.values()) {
      const route = this.reverseProxyRoute(o);
      if (!route) continue;
      byPrefix.set(route.prefix, [...(byPrefix.get(route.prefix) ?? []), route]);
    }
    const proxies: Route[] = [];
    for (const group of byPrefix.values()) {
      // Routes limited to methods come before a catch-all on the same prefix; otherwise one wins.
      group.sort((a, b) => (preferred(a, b) ? -1 : preferred(b, a) ? 1 : 0));
      const limited = group.filter((r) => r.methods);
      const catchAll = group.find((r) => !r.methods);
      proxies.push(...limited, ...(catchAll ? [catchAll] : []));
    }
    proxies.sort((a, b) => b.prefix.length - a.prefix.length);
    this.apiServices = apiServices;
    this.proxies = proxies;
    this.all = [...apiServices.values(), ...proxies];
    for (const l of this.listeners) l();
  }

  private apiServiceRoute(o: KubeObject): Route | undefined {
    const spec = (o.spec ?? {}) as { group?: string; version?: string; url?: string; enabled?: boolean };
    const name = o.metadata.name!;
    if (!spec.group || !spec.version || spec.group.includes('/') || spec.version.includes('/')) return this.ignore(`APIService "${name}"`, 'spec.group and spec.version must be set and contain no "/"');
    if (isReservedGroup(spec.group)) return this.ignore(`APIService "${name}"`, `the group "${spec.group}" is served by the core`);
    return {
      kind: 'apiservice', name, extension: extensionOf(o), enabled: spec.enabled !== false, ...upstreamOf(spec.url),
      prefix: `/kapis/${spec.group}/${spec.version}`, headerUp: {}, headerDown: {}, removeHeaders: [], created: o.metadata.creationTimestamp ?? '',
    };
  }

  private reverseProxyRoute(o: KubeObject): Route | undefined {
    const spec = (o.spec ?? {}) as {
      matcher?: { path?: string; method?: string }; upstream?: { url?: string }; enabled?: boolean;
      directives?: { stripPathPrefix?: string; headerUp?: Record<string, string>; headerDown?: Record<string, string>; removeHeaders?: string[] };
    };
    const name = o.metadata.name!;
    const prefix = normalizePrefix(spec.matcher?.path ?? '');
    const first = prefix.split('/')[1] ?? '';
    if (!prefix.startsWith('/') || prefix === '') return this.ignore(`ReverseProxy "${name}"`, 'spec.matcher.path must be an absolute path below "/"');
    if (corePathSegments.has(first)) return this.ignore(`ReverseProxy "${name}"`, `the path "/${first}/" is served by the core`);
    const extension = extensionOf(o);
    // /hooks/<x>/ belongs to extension x, so one extension's webhooks never shadow another's.
    if (first === 'hooks' && prefix.split('/')[2] !== extension) return this.ignore(`ReverseProxy "${name}"`, `only the extension "${prefix.split('/')[2] ?? ''}" may route under /hooks/${prefix.split('/')[2] ?? ''}/`);
    const anonymous = (o.spec as { anonymous?: unknown } | undefined)?.anonymous === true;
    if (anonymous && (first !== 'hooks' || prefix.split('/').length < 3)) return this.ignore(`ReverseProxy "${name}"`, 'an anonymous route must be under /hooks/<extension>/');
    const methods = spec.matcher?.method?.split(/[\s,]+/).filter(Boolean).map((m) => m.toUpperCase());
    const d = spec.directives ?? {};
    const strip = d.stripPathPrefix ? normalizePrefix(d.stripPathPrefix) : undefined;
    return {
      kind: 'reverseproxy', name, extension, enabled: spec.enabled !== false, ...upstreamOf(spec.upstream?.url),
      prefix, ...(anonymous ? { anonymous } : {}), ...(methods?.length ? { methods } : {}), ...(strip ? { stripPathPrefix: strip } : {}),
      headerUp: { ...(d.headerUp ?? {}) }, headerDown: Object.fromEntries(Object.entries(d.headerDown ?? {}).filter(([n]) => !isProxyOrderHeader(n))), removeHeaders: [...(d.removeHeaders ?? [])],
      created: o.metadata.creationTimestamp ?? '',
    };
  }

  private ignore(what: string, why: string): undefined {
    const key = `${what}: ${why}`;
    if (!this.reported.has(key)) {
      this.reported.add(key);
      this.logger?.warn({ event: 'gateway.route-ignored', object: what, reason: why }, `gateway: ignoring ${what}: ${why}`);
    }
    return undefined;
  }
}

function extensionOf(o: KubeObject): string {
  return o.metadata.labels?.[extensionLabel] || o.metadata.name!;
}

function upstreamOf(raw: string | undefined): { upstream: URL } | { problem: string } {
  if (!raw) return { problem: 'the route names no upstream URL' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: `the upstream URL "${raw}" is not a valid URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: `the upstream URL "${raw}" is not http(s)` };
  if (url.username || url.password) return { problem: 'the upstream URL must not carry credentials (use directives.headerUp)' };
  return { upstream: url };
}

/** `/proxy/x/`, `/proxy/x/*` and `/proxy/x` all mean the segment-aligned prefix `/proxy/x`. */
export function normalizePrefix(path: string): string {
  let p = path.trim();
  if (p.endsWith('*')) p = p.slice(0, -1);
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p === '/' ? '' : p;
}

/** Whole-segment prefix match: `/proxy/x` matches `/proxy/x` and `/proxy/x/...`, not `/proxy/xy`. */
function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47 /* / */);
}

function joinPath(base: string | undefined, rest: string): string {
  if (!base || base === '/') return rest;
  return base.replace(/\/+$/, '') + rest;
}

/** Enabled before disabled, then the oldest, then by name: stable whatever order events come in. */
function preferred(a: Route, b: Route): boolean {
  if (a.enabled !== b.enabled) return a.enabled;
  if (a.created !== b.created) return a.created < b.created;
  return a.name < b.name;
}
