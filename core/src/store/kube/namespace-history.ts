// A cluster keeps history (a watch replays it, a list reads at an exact resourceVersion) by key,
// within its compaction window: a namespace deleted and created again under its name, by another
// tenant perhaps, has its predecessor's history there. The core serves none of it: history from
// before the namespace that is there now was created is 410 Expired, as in the embedded mode.
import { StoreError, type KubeObject } from '../resource-store.js';
import type { KubeClient } from './kube-client.js';

/**
 * An Expired error when namespace `namespace` (as it is now, read afresh) was created after
 * `resourceVersion`: the cluster had no namespace of that name then, or another one (another
 * uid). The cluster answers, reading the namespace at exactly that version; a version it has
 * compacted is Expired too. Undefined when the history from there is this namespace's own, or
 * when there is no such namespace now (nobody holds rights in it but cluster-wide ones).
 */
export async function historyBeforeNamespace(client: KubeClient, namespace: string, resourceVersion: string): Promise<StoreError | undefined> {
  // Not from a cache: one a moment behind would still hold the predecessor's uid.
  const current = await client.call('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`, undefined, { missingOk: true });
  if (!current) return undefined;
  const selector = encodeURIComponent(`metadata.name=${namespace}`);
  const then = await client.call<{ items: KubeObject[] }>('GET', `/api/v1/namespaces?fieldSelector=${selector}&resourceVersion=${encodeURIComponent(resourceVersion)}&resourceVersionMatch=Exact`);
  if (then?.items.some((ns) => ns.metadata.uid === current.metadata.uid)) return undefined;
  return new StoreError('Expired', `too old resource version: ${resourceVersion} (${current.metadata.resourceVersion}): namespace "${namespace}" was created after it`, current.metadata.resourceVersion);
}

/**
 * The resourceVersion from which a request passed on as it is (/clusters/host) reads history,
 * as the cluster reads the query: a watch's `resourceVersion`; a list's at an exact version
 * (`resourceVersionMatch=Exact`, or the older spelling: a `limit` without a match); the version
 * in a `continue` token, whoever made it. Undefined for reads of the current state.
 */
export function historyVersionOf(query: URLSearchParams, watch: boolean): string | undefined {
  const continued = continueVersion(query.get('continue'));
  if (continued) return continued;
  const rv = query.get('resourceVersion') ?? '';
  if (rv === '' || rv === '0') return undefined;
  if (watch) return rv;
  const match = query.get('resourceVersionMatch') ?? '';
  return match === 'Exact' || (match === '' && Number(query.get('limit') ?? '0') > 0) ? rv : undefined;
}

/**
 * The resourceVersion a continue token (the cluster's: base64url JSON) lists at; its key matched
 * as Go's decoder does, in any case, the last one. A client can write one, for any version.
 */
export function continueVersion(token: string | null): string | undefined {
  if (!token) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!decoded || typeof decoded !== 'object') return undefined;
  let rv: unknown;
  for (const [k, v] of Object.entries(decoded)) if (k.toLowerCase() === 'rv') rv = v;
  return typeof rv === 'number' && Number.isSafeInteger(rv) && rv > 0 ? String(rv) : undefined;
}
