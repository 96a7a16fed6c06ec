import { createServer } from 'node:http';
import { Pool } from 'undici';

// The least a Node reverse proxy does (node:http in, an undici pool out, no rules): a baseline
// that separates what Node costs from what the mesh's rules, traces and telemetry add.

const pool = new Pool(process.env.UPSTREAM!, { connections: 256 });
createServer((req, res) => {
  if (req.url === '/readyz') return res.end('ok');
  pool.request({ path: req.url ?? '/', method: 'GET' }).then(async (r) => {
    res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/octet-stream') });
    for await (const c of r.body) res.write(c);
    res.end();
  }, () => {
    res.statusCode = 502;
    res.end();
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
