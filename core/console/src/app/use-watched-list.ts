import { useApi, type KubeObject, type ResourcePath } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';

/** A list kept current by a watch (re-listed when the stream ends); undefined until the first list. */
export function useWatchedList<T extends KubeObject>(r: ResourcePath): { items: T[] | undefined; error?: string } {
  const api = useApi();
  const [items, setItems] = useState<Map<string, T> | undefined>();
  const [error, setError] = useState<string | undefined>();
  const key = JSON.stringify(r);
  useEffect(() => {
    const abort = new AbortController();
    const run = async () => {
      while (!abort.signal.aborted) {
        try {
          const list = await api.list<T>(r);
          const map = new Map(list.items.map((o) => [o.metadata.name!, o]));
          setItems(new Map(map));
          setError(undefined);
          await api.watch<T>(r, list.metadata.resourceVersion, (ev) => {
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') map.set(ev.object.metadata.name!, ev.object);
            else if (ev.type === 'DELETED') map.delete(ev.object.metadata.name!);
            else return;
            setItems(new Map(map));
          }, abort.signal);
        } catch (e) {
          if (abort.signal.aborted) return;
          setError((e as Error).message);
          await new Promise((res) => setTimeout(res, 2000));
        }
      }
    };
    void run();
    return () => abort.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, key]);
  return { items: items && [...items.values()], error };
}
