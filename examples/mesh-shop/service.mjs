// One service of the sample shop. Configured by its environment, so the same file runs every
// service and version:
//   NAME, VERSION        who it is (echoed in its answers)
//   PORT                 where to listen (0: any free port; the port is printed as {"listening": port})
//   MESH_URL, NAMESPACE  the mesh's data plane and the namespace; calls go there with Host: <service>.<namespace>
//   CALLS                what each request calls first, e.g. "catalog/items" or "inventory/stock,reviews/list"
//   FAIL_RATE            share of requests answered 503 (0–1)
//   FAIL_EVERY           answer 503 to every n-th request (a flaky endpoint, deterministic)
//   DELAY_MS             added latency
// POST /admin/behaviour?failRate=&delayMs=&failEvery= changes the last three at run time.
// It passes the incoming traceparent on to its calls, as any traced application does.
import { createServer, request } from 'node:http';

const name = process.env.NAME ?? 'service';
const version = process.env.VERSION ?? 'v1';
const mesh = process.env.MESH_URL;
const namespace = process.env.NAMESPACE ?? 'default';
const calls = (process.env.CALLS ?? '').split(',').filter(Boolean).map((c) => {
  const [service, ...path] = c.split('/');
  return { service, path: `/${path.join('/')}` };
});
const behaviour = {
  failRate: Number(process.env.FAIL_RATE ?? 0),
  failEvery: Number(process.env.FAIL_EVERY ?? 0),
  delayMs: Number(process.env.DELAY_MS ?? 0),
};
let served = 0;

// node:http, not fetch: fetch does not let a caller set Host, which is how the mesh routes.
const agent = new (await import('node:http')).Agent({ keepAlive: true });
function get(url, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function call(target, traceparent) {
  const headers = { host: `${target.service}.${namespace}`, ...(traceparent ? { traceparent } : {}) };
  // No retry on a reset: neither data plane closes a kept-alive connection when the rules change.
  const res = await get(`${mesh}${target.path}`, headers);
  const text = res.text;
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, version: res.headers['x-mesh-version'] ?? null, body };
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const json = (code, body) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (url.pathname === '/admin/behaviour' && req.method === 'POST') {
    for (const k of Object.keys(behaviour)) if (url.searchParams.has(k)) behaviour[k] = Number(url.searchParams.get(k));
    served = 0;
    return json(200, behaviour);
  }
  if (url.pathname === '/healthz') return json(200, { ok: true });
  served++;
  if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
  if ((behaviour.failEvery && served % behaviour.failEvery === 1 % behaviour.failEvery) || Math.random() < behaviour.failRate) {
    return json(503, { service: name, version, error: 'unavailable' });
  }
  const downstream = {};
  for (const target of calls) {
    try {
      downstream[target.service] = await call(target, req.headers.traceparent);
    } catch (e) {
      downstream[target.service] = { status: 0, error: e.message };
    }
  }
  const failed = Object.values(downstream).some((d) => d.status >= 500 || d.status === 0);
  json(failed ? 502 : 200, { service: name, version, path: url.pathname, headers: { traceparent: req.headers.traceparent ?? null }, downstream });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port, name, version })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
