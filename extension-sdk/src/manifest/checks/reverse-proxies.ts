import { isDns1123Label } from '../patterns.js';
import type { ManifestProblem } from '../types.js';
import { describeValue } from '../../util/describe-value.js';
import { arrayItems, isRecord } from '../../util/guards.js';
import { jsonPointer } from '../../util/json-pointer.js';

/** First path segments the core answers itself. */
export const RESERVED_PATH_SEGMENTS = [
  'api', 'apis', 'kapis', 'oauth', '.well-known', 'healthz', 'readyz', 'livez', 'metrics', 'console', 'static', 'login',
];

/**
 * A prefix is a clean absolute path ending in "/" (so it matches whole segments). Under
 * /proxy/ only the extension's own name may follow, so extensions cannot shadow each other.
 */
export function checkReverseProxies(manifest: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  // An invalid name is reported on its own; comparing prefixes with it would only add noise.
  const name = typeof manifest.name === 'string' && isDns1123Label(manifest.name) ? manifest.name : undefined;
  const seen = new Map<string, number>();
  arrayItems(manifest.reverseProxies).forEach((proxy, i) => {
    if (!isRecord(proxy) || typeof proxy.prefix !== 'string' || !proxy.prefix.startsWith('/')) return;
    const prefix = proxy.prefix;
    const path = jsonPointer('reverseProxies', i, 'prefix');
    const message = prefixProblem(prefix, name) ?? (prefix.startsWith('/hooks/') ? `must not be under "/hooks/", which is for the manifest's webhooks, got ${describeValue(prefix)}` : undefined);
    if (message) problems.push({ path, message });
    const first = seen.get(prefix);
    if (first !== undefined) problems.push({ path, message: `duplicates the prefix of /reverseProxies/${first}` });
    else seen.set(prefix, i);
  });
  return problems;
}

/**
 * Webhook paths are reached without a Mortise login (the backend authenticates the caller
 * itself, e.g. by a git host's signature), so they live only under "/hooks/<name>/".
 */
export function checkWebhooks(manifest: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const name = typeof manifest.name === 'string' && isDns1123Label(manifest.name) ? manifest.name : undefined;
  const seen = new Map<string, number>();
  arrayItems(manifest.webhooks).forEach((hook, i) => {
    if (!isRecord(hook) || typeof hook.path !== 'string' || !hook.path.startsWith('/')) return;
    const path = jsonPointer('webhooks', i, 'path');
    const got = `, got ${describeValue(hook.path)}`;
    const message = prefixProblem(hook.path, name)
      ?? (name !== undefined && !hook.path.startsWith(`/hooks/${name}/`) ? `must start with "/hooks/${name}/" (webhooks live under /hooks/ and the extension's own name)${got}` : undefined);
    if (message) problems.push({ path, message });
    const first = seen.get(hook.path);
    if (first !== undefined) problems.push({ path, message: `duplicates the path of /webhooks/${first}` });
    else seen.set(hook.path, i);
  });
  if (arrayItems(manifest.webhooks).length > 0 && !isRecord(manifest.backend)) problems.push({ path: '/webhooks', message: 'webhooks need a backend to answer them' });
  return problems;
}

function prefixProblem(prefix: string, name: string | undefined): string | undefined {
  const got = `, got ${describeValue(prefix)}`;
  if (/[\s?#%\\]/.test(prefix)) return `must be a plain path without spaces, "?", "#", "%" or "\\"${got}`;
  if (!prefix.endsWith('/')) return `must end with "/" so that it matches whole path segments${got}`;
  const segments = prefix.slice(1, -1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return `must not contain empty, "." or ".." segments${got}`;
  const first = segments[0] ?? '';
  if (RESERVED_PATH_SEGMENTS.includes(first)) return `must not be under "/${first}/", which the core serves${got}`;
  if (first === 'proxy' && name !== undefined && segments[1] !== name) {
    return `must start with "/proxy/${name}/" (an extension may only use its own name under /proxy/)${got}`;
  }
  return undefined;
}
