import type { KubeObject, StoreError, StoreEvent, Watcher } from '../store/resource-store.js';
import {
  formatFieldSelector, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector,
} from '../api/selectors.js';
import { apiVersionOf, type KindDefinition } from './kind.js';
import type { ResourceService } from './resource-service.js';
import { listObjects, nameScope } from './resource-list.js';
import type { WatchQuery, WatchSink } from './resource-types.js';
import { storeErrorToApi, toApiError } from './store-errors.js';
import { parseResourceVersion } from './write-checks.js';

/**
 * Streams changes. Without a resourceVersion (or with "0", or sendInitialEvents) the
 * current objects come first as ADDED; with one, history after it is replayed.
 */
export async function watchObjects(svc: ResourceService, def: KindDefinition, namespace: string, q: WatchQuery, sink: WatchSink): Promise<Watcher> {
  const labels: LabelSelector = parseLabelSelector(q.labelSelector);
  const fields: FieldSelector = [...parseFieldSelector(q.fieldSelector), ...nameScope(q.name)];
  const matches = (o: KubeObject | undefined) => o !== undefined && matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o);
  const ns = def.namespaced && namespace ? namespace : undefined;
  const rvText = q.resourceVersion ?? '';
  let since: string;
  const initial = rvText === '' || rvText === '0' || q.sendInitialEvents === true;
  if (!initial) {
    parseResourceVersion(rvText);
    since = rvText;
  } else {
    const page = await listObjects(svc, def, namespace, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector, name: q.name });
    for (const o of page.items) sink('ADDED', o);
    since = page.resourceVersion;
    if (q.sendInitialEvents) {
      sink('BOOKMARK', { apiVersion: apiVersionOf(def), kind: def.kind, metadata: { resourceVersion: since, annotations: { 'k8s.io/initial-events-end': 'true' } } });
    }
  }
  // A store that selects (a cluster) sends an object leaving the selection as DELETED itself;
  // the SQLite store's events carry the previous object instead, and are told apart here.
  const onEvent = (e: StoreEvent) => {
    const now = matches(e.object);
    const before = e.type === 'MODIFIED' && e.previous !== undefined ? matches(e.previous) : now;
    if (e.type === 'MODIFIED' && before !== now) {
      // An object entering or leaving the selection is added or deleted for this watcher; one
      // leaving shows its last state inside the selection at the event's resourceVersion, as a
      // cluster sends it (a replayed event knows only the previous labels: the rest is current).
      const left = e.previous && { ...e.previous, metadata: { ...e.previous.metadata, resourceVersion: e.resourceVersion } };
      sink(now ? 'ADDED' : 'DELETED', svc.external(def, now ? e.object : left!));
    } else if (now) {
      sink(e.type, svc.external(def, e.object));
    }
  };
  // A version too old to replay ends the stream with an ERROR event carrying the 410, after it opened.
  const onError = (e: StoreError) => sink('ERROR', storeErrorToApi(e, def, '').toStatus() as unknown as KubeObject);
  try {
    const selectors = { labelSelector: q.labelSelector?.trim() || undefined, fieldSelector: fields.length ? formatFieldSelector(fields) : undefined };
    return svc.store.watch(svc.ref(def), { namespace: ns, sinceResourceVersion: since, ...selectors }, onEvent, onError);
  } catch (e) {
    throw toApiError(e, def, '');
  }
}
