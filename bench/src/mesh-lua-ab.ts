import { spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withChildren } from './cpu.js';
import { rounds, type MeshTarget, type Target } from './mesh-bench.js';
import { nginxPrefixOf, startNginx } from './nginx.js';
import { spawnServer } from './processes.js';

// A/B of the nginx plane's Lua (or nginx.conf): plain nginx and one nginx plane per variant, in
// interleaved rounds. A variant is a directory whose files replace the plane's (`*.lua` in its lua/
// dir, others at its root, where `@DIR@` and `@PORT@` read as the plane's directory and port: an
// nginx.conf from another build, as mesh-lua-variant.js writes both), taken by a HUP;
// `base` is the plane as built. Usage:
//   node bench/dist/mesh-lua-ab.js base /tmp/variant-a /tmp/variant-b   (MESH_ROUNDS, default 8)

const here = dirname(fileURLToPath(import.meta.url));

const variants = process.argv.slice(2);
if (variants.length === 0) throw new Error('usage: mesh-lua-ab.js base <variant dir>...');
const code = `require('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': 'application/json'}); s.end('{"ok":true}'); }).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
const up = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
const stops: Array<() => Promise<void> | void> = [() => void up.kill()];
try {
  const port = await new Promise<string>((r) => up.stdout!.once('data', (d: Buffer) => r(d.toString().trim())));
  const upstream = `http://127.0.0.1:${port}`;
  const nginx = await startNginx(upstream, '/up');
  stops.unshift(() => nginx.stop());
  const targets: Target[] = [{ name: 'nginx', url: `${nginx.url}/up/healthz`, pids: () => [nginx.workerPid()!].filter(Boolean) }];
  for (const v of variants) {
    const plane = await spawnServer(join(here, 'mesh-dataplane-server.js'), { UPSTREAM: upstream, MESH_PLANE: 'nginx' }, '/healthz');
    stops.unshift(() => plane.stop());
    const master = withChildren(plane.child.pid).slice(1).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('nginx'))!;
    const dir = nginxPrefixOf(master);
    if (v !== 'base') {
      for (const f of readdirSync(v)) {
        if (f.endsWith('.lua')) copyFileSync(join(v, f), join(dir, 'lua', f));
        else writeFileSync(join(dir, f), readFileSync(join(v, f), 'utf8').replaceAll('@DIR@', dir).replaceAll('@PORT@', new URL(plane.url).port));
      }
      process.kill(master, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 1500));
    }
    const res = await fetch(`${plane.url}/healthz`, { headers: { host: 'bench.bench' } });
    if (res.status !== 200) throw new Error(`${v}: ${res.status} ${await res.text()} (${join(dir, 'error.log')})`);
    targets.push({ name: v as MeshTarget, url: `${plane.url}/healthz`, headers: { host: 'bench.bench' }, pids: () => [plane.child.pid!, ...withChildren(master)] });
  }
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(`load average ${load()}`);
  for (const c of [1, 64]) {
    const out = await rounds(targets, c, Number(process.env.MESH_ROUNDS ?? 8), 1);
    for (const [k, m] of Object.entries(out)) console.log(`c=${c} ${k}: ${m!.rps} req/s, ${m!.toNginx}× nginx, ${m!.cpuUsPerRequest} µs CPU/req, p50 ${m!.p50} ms, p99 ${m!.p99} ms`);
  }
  console.log(`load average ${load()}`);
} finally {
  for (const stop of stops) await stop();
}
