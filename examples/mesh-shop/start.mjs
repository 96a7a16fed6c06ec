// Starts the sample shop against a running Mortise with the servicemesh extension installed:
// frontend → catalog (v1 and v2) → inventory, each a process of service.mjs on a free port,
// registered as MeshServices in the namespace `shop` (created if missing).
//   MORTISE_URL=http://127.0.0.1:8080 MORTISE_TOKEN=<an access token> node examples/mesh-shop/start.mjs
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const core = process.env.MORTISE_URL ?? 'http://127.0.0.1:8080';
const token = process.env.MORTISE_TOKEN;
if (!token) throw new Error('set MORTISE_TOKEN (an access token of a user who may write in the namespace "shop")');
const namespace = process.env.NAMESPACE ?? 'shop';
const api = async (method, path, body) => {
  const res = await fetch(`${core}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  if (!res.ok && res.status !== 409) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
};

const { url: mesh } = await api('GET', '/proxy/servicemesh/api/dataplane');
await api('POST', '/api/v1/namespaces', { metadata: { name: namespace } });

async function start(env) {
  const child = spawn(process.execPath, [new URL('./service.mjs', import.meta.url).pathname], { env: { ...process.env, PORT: '0', MESH_URL: mesh, NAMESPACE: namespace, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  process.on('exit', () => child.kill());
  return `http://127.0.0.1:${JSON.parse(line).listening}`;
}

const inventory = await start({ NAME: 'inventory' });
const catalogV1 = await start({ NAME: 'catalog', VERSION: 'v1', CALLS: 'inventory/stock' });
const catalogV2 = await start({ NAME: 'catalog', VERSION: 'v2', CALLS: 'inventory/stock' });
const frontend = await start({ NAME: 'frontend', CALLS: 'catalog/items' });
const service = (name, versions) => api('POST', `/apis/servicemesh.mortise.io/v1alpha1/namespaces/${namespace}/meshservices`, {
  apiVersion: 'servicemesh.mortise.io/v1alpha1', kind: 'MeshService', metadata: { name }, spec: { versions: Object.entries(versions).map(([v, url]) => ({ name: v, endpoints: [url] })) },
});
await service('inventory', { v1: inventory });
await service('catalog', { v1: catalogV1, v2: catalogV2 });
await service('frontend', { v1: frontend });
console.log(`the shop runs in namespace "${namespace}"; call it through the mesh:
  curl -H 'Host: frontend.${namespace}' ${mesh}/
catalog v2's admin: curl -X POST '${catalogV2}/admin/behaviour?failRate=1'   (make the canary fail)
Ctrl-C stops the services.`);
setInterval(() => {}, 1 << 30);
