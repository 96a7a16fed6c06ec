import { request } from 'node:http';
import { percentile } from './load.js';

export interface FanoutResult {
  watchers: number;
  writes: number;
  /** Write sent → every watcher has the event, ms. */
  lastDeliveryP50: number;
  lastDeliveryP99: number;
  /** Write sent → a watcher has the event, over all deliveries, ms. */
  deliveryP50: number;
  deliveryP99: number;
}

/** Opens `watchers` watch streams, writes `writes` objects, times each event's arrival everywhere. */
export async function watchFanout(url: string, token: string, watchers: number, writes: number): Promise<FanoutResult> {
  const base = '/apis/extensions.mortise.io/v1alpha1/categories';
  const rv = ((await (await fetch(`${url}${base}?limit=1`, { headers: { authorization: `Bearer ${token}` } })).json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
  const arrivals = new Map<string, number[]>();
  const sockets: Array<() => void> = [];
  let opened = 0;
  await new Promise<void>((resolve, reject) => {
    for (let w = 0; w < watchers; w++) {
      const req = request(`${url}${base}?watch=1&resourceVersion=${rv}&labelSelector=fanout%3Dtrue`, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`watch answered ${res.statusCode}`));
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const now = performance.now();
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const m = /"name":"(fanout-\d+)"/.exec(line);
            if (m) {
              const list = arrivals.get(m[1]!) ?? [];
              list.push(now);
              arrivals.set(m[1]!, list);
            }
          }
        });
        if (++opened === watchers) resolve();
      });
      req.on('error', reject);
      req.end();
      sockets.push(() => req.destroy());
    }
  });
  const last: number[] = [];
  const all: number[] = [];
  for (let i = 0; i < writes; i++) {
    const name = `fanout-${i}`;
    const sent = performance.now();
    const res = await fetch(`${url}${base}`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'extensions.mortise.io/v1alpha1', kind: 'Category', metadata: { name, labels: { fanout: 'true' } } }),
    });
    if (res.status !== 201) throw new Error(`create answered ${res.status}`);
    const deadline = Date.now() + 10_000;
    while ((arrivals.get(name)?.length ?? 0) < watchers && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    const times = arrivals.get(name) ?? [];
    if (times.length < watchers) throw new Error(`only ${times.length}/${watchers} watchers saw ${name}`);
    last.push(Math.max(...times) - sent);
    for (const t of times) all.push(t - sent);
  }
  for (const close of sockets) close();
  last.sort((a, b) => a - b);
  all.sort((a, b) => a - b);
  return {
    watchers, writes,
    lastDeliveryP50: percentile(last, 50), lastDeliveryP99: percentile(last, 99),
    deliveryP50: percentile(all, 50), deliveryP99: percentile(all, 99),
  };
}
