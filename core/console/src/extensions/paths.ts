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

/**
 * Matches a route path ("runs/:id", "files/*") against the rest of a URL: the values of its
 * `:param` segments (decoded) and, for a trailing `*`, the rest under "*"; undefined when it does
 * not match. "" matches only "".
 */
export function routeParams(pattern: string, rest: string): Record<string, string> | undefined {
  const a = pattern.split('/').filter(Boolean);
  const b = rest.split('/').filter(Boolean);
  const wildcard = a[a.length - 1] === '*';
  const fixed = wildcard ? a.slice(0, -1) : a;
  if (wildcard ? b.length < fixed.length : b.length !== fixed.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, s] of fixed.entries()) {
    if (s.startsWith(':')) params[s.slice(1)] = safeDecode(b[i]!);
    else if (s !== b[i]) return undefined;
  }
  if (wildcard) params['*'] = b.slice(fixed.length).map(safeDecode).join('/');
  return params;
}

export function matchRoute(pattern: string, rest: string): boolean {
  return routeParams(pattern, rest) !== undefined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The scope in the URL: /workspaces/<ws>[/namespaces/<ns>]/… */
export function scopeOf(pathname: string): { workspace?: string; namespace?: string } {
  const m = /^\/workspaces\/([^/]+)(?:\/namespaces\/([^/]+))?/.exec(pathname);
  return m ? { workspace: decodeURIComponent(m[1]!), namespace: m[2] ? decodeURIComponent(m[2]) : undefined } : {};
}
