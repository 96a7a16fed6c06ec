import { load, type LoadResult } from './load.js';

export interface GatewayFigures {
  installToServingMs: number;
  disableMs: number;
  enableMs: number;
  rows: Array<{ name: string; gateway: LoadResult; direct: LoadResult }>;
  hello: LoadResult[];
}

const ext = '/apis/extensions.mortise.io/v1alpha1';

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** hello-world from the bundled repository: install-to-serving, toggle, proxied vs. direct. */
export async function gatewayBench(url: string, token: string, seconds: number): Promise<GatewayFigures> {
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  await until(async () => (await fetch(`${url}${ext}/extensionversions/hello-world-0.1.0`, { headers: auth })).ok, 30_000, 'bundled repository');
  const t0 = performance.now();
  const created = await fetch(`${url}${ext}/installplans`, { method: 'POST', headers: json, body: JSON.stringify({ metadata: { name: 'hello-world' }, spec: { extension: { name: 'hello-world', version: '0.1.0' }, enabled: true } }) });
  if (created.status !== 201) throw new Error(`install: ${created.status}`);
  await until(async () => (await fetch(`${url}/proxy/hello-world/hello`, { headers: auth })).ok, 60_000, 'hello-world serving');
  const installToServingMs = performance.now() - t0;

  const patch = (enabled: boolean) => fetch(`${url}${ext}/installplans/hello-world`, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { enabled } }) });
  let t = performance.now();
  await patch(false);
  await until(async () => (await fetch(`${url}/proxy/hello-world/hello`, { headers: auth })).status === 503, 30_000, 'disabled');
  const disableMs = performance.now() - t;
  t = performance.now();
  await patch(true);
  await until(async () => (await fetch(`${url}/proxy/hello-world/hello`, { headers: auth })).ok, 60_000, 're-enabled');
  const enableMs = performance.now() - t;

  const proxies = (await (await fetch(`${url}${ext}/reverseproxies/hello-world`, { headers: auth })).json()) as { spec: { upstream: { url: string } } };
  const backend = proxies.spec.upstream.url;
  const rows: GatewayFigures['rows'] = [];
  const hello: LoadResult[] = [];
  for (const c of [1, 64]) {
    const direct = await load({ url: backend, path: '/healthz', connections: c, durationSec: seconds });
    const gateway = await load({ url, path: '/proxy/hello-world/healthz', headers: auth, connections: c, durationSec: seconds });
    rows.push({ name: `GET /healthz (c=${c})`, gateway, direct });
    hello.push(await load({ url, path: '/proxy/hello-world/hello', headers: auth, connections: c, durationSec: seconds }));
  }
  return { installToServingMs, disableMs, enableMs, rows, hello };
}
