import type { ConsoleLevel } from '@mortise/extension-sdk/console';

/** Where an extension's pages live, by level. */
export function extensionBase(level: ConsoleLevel | undefined, extension: string, scope: { workspace?: string; namespace?: string }): string | undefined {
  if (!level || level === 'platform') return `/x/${extension}`;
  if (!scope.workspace) return undefined;
  if (level === 'workspace') return `/workspaces/${scope.workspace}/x/${extension}`;
  if (!scope.namespace) return undefined;
  return `/workspaces/${scope.workspace}/namespaces/${scope.namespace}/x/${extension}`;
}

export const joinPath = (base: string, path: string) => (path ? `${base}/${path.replace(/^\/+/, '')}` : base);

/** Matches a route path ("runs/:id") against the rest of a URL; "" matches only "". */
export function matchRoute(pattern: string, rest: string): boolean {
  const a = pattern.split('/').filter(Boolean);
  const b = rest.split('/').filter(Boolean);
  if (a[a.length - 1] === '*') return b.length >= a.length - 1 && a.slice(0, -1).every((s, i) => s.startsWith(':') || s === b[i]);
  return a.length === b.length && a.every((s, i) => s.startsWith(':') || s === b[i]);
}

/** The scope in the URL: /workspaces/<ws>[/namespaces/<ns>]/… */
export function scopeOf(pathname: string): { workspace?: string; namespace?: string } {
  const m = /^\/workspaces\/([^/]+)(?:\/namespaces\/([^/]+))?/.exec(pathname);
  return m ? { workspace: decodeURIComponent(m[1]!), namespace: m[2] ? decodeURIComponent(m[2]) : undefined } : {};
}
