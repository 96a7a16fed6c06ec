import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withChildren } from './cpu.js';
import { instructionsPerRequest } from './instructions.js';
import { rounds, type MeshTarget, type Target } from './mesh-bench.js';
import { applyVariant } from './mesh-variant-files.js';
import { nginxPrefixOf, startNginx } from './nginx.js';
import { median } from './round-robin.js';
import { spawnServer } from './processes.js';

// A/B of the nginx plane's Lua (or nginx.conf): plain nginx and one nginx plane per variant, in
// interleaved rounds. A variant is a directory whose files replace the plane's (mesh-variant-files.ts:
// an nginx.conf and mesh.lua from another build, as mesh-lua-variant.js writes both), taken by a
// HUP; `base` is the plane as built. MESH_AB_INSTRUCTIONS=1: instead of req/s, the instructions
// each nginx runs per request (instructions.ts: callgrind, one process each, c=1; the variant's
// files written before its nginx starts, mesh-nginx-callgrind.ts), a figure the machine's other
// work does not move, for requests without a trace (the plane starts one; unsampled: the plane
// samples none for this count), of an unsampled trace and of a sampled one (a span logged),
// counted over MESH_AB_SECONDS (default 3), in MESH_ROUNDS rounds (default 1), with MESH_AB_HEADERS
// more request headers (default 0). Usage:
//   node bench/dist/mesh-lua-ab.js base /tmp/variant-a /tmp/variant-b   (MESH_ROUNDS, default 8)

const here = dirname(fileURLToPath(import.meta.url));

const variants = process.argv.slice(2);
if (variants.length === 0) throw new Error('usage: mesh-lua-ab.js base <variant dir>...');
const callgrind = !!process.env.MESH_AB_INSTRUCTIONS;
const code = `require('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': 'application/json'}); s.end('{"ok":true}'); }).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
const up = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
const stops: Array<() => Promise<void> | void> = [() => void up.kill()];
try {
  const port = await new Promise<string>((r) => up.stdout!.once('data', (d: Buffer) => r(d.toString().trim())));
  const upstream = `http://127.0.0.1:${port}`;
  // Buffered, as mesh-bench's nginx and the plane (MESH_AB_NGINX_UNBUFFERED=1: unbuffered, as before 2026-12-03 evening).
  const nginx = await startNginx(upstream, '/up', { callgrind, buffered: !process.env.MESH_AB_NGINX_UNBUFFERED });
  stops.unshift(() => nginx.stop());
  const targets: Target[] = [{ name: 'nginx', url: `${nginx.url}/up/healthz`, pids: () => [nginx.workerPid()!].filter(Boolean) }];
  // Instructions: the plane runs nginx through this script (mesh-nginx-callgrind.ts).
  let wrapper: string | undefined;
  if (callgrind) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-mesh-ab-'));
    stops.push(() => rmSync(dir, { recursive: true, force: true }));
    wrapper = join(dir, 'nginx');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(here, 'mesh-nginx-callgrind.js'))} "$@"\n`);
    chmodSync(wrapper, 0o755);
  }
  const counted: Array<{ name: string; pid: number; dir: string; url: string }> = [];
  for (const v of variants) {
    const env: Record<string, string> = { UPSTREAM: upstream, MESH_PLANE: 'nginx', ...(wrapper ? { MESH_NGINX: wrapper, MESH_AB_VARIANT: v, MESH_TRACE_SAMPLES: '0' } : {}) };
    const plane = await spawnServer(join(here, 'mesh-dataplane-server.js'), env, '/healthz');
    stops.unshift(() => plane.stop());
    // The nginx master (or, under callgrind, the one nginx process, under mesh-nginx-callgrind's) under the plane's process.
    const descendants = (pid: number): number[] => withChildren(pid).slice(1).flatMap((c) => [c, ...descendants(c)]);
    const master = descendants(plane.child.pid!).find((p) => {
      const words = readFileSync(`/proc/${p}/cmdline`, 'utf8').split(/[\0 ]/);
      return words.includes('-p') && words.some((w) => w === 'nginx' || w.endsWith('/nginx'));
    })!;
    const dir = nginxPrefixOf(master);
    if (v !== 'base' && !callgrind) {
      applyVariant(v, dir, new URL(plane.url).port);
      process.kill(master, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 1500));
    }
    const res = await fetch(`${plane.url}/healthz`, { headers: { host: 'bench.bench' } });
    if (res.status !== 200) throw new Error(`${v}: ${res.status} ${await res.text()} (${join(dir, 'error.log')})`);
    targets.push({ name: v as MeshTarget, url: `${plane.url}/healthz`, headers: { host: 'bench.bench' }, pids: () => [plane.child.pid!, ...withChildren(master)] });
    counted.push({ name: v, pid: master, dir, url: `${plane.url}/healthz` });
  }
  if (callgrind) {
    const seconds = Number(process.env.MESH_AB_SECONDS ?? 3);
    // MESH_AB_HEADERS=<n>: n more request headers (a browser sends ~10), e.g. to see a header scan's cost.
    const extraHeaders = Object.fromEntries(Array.from({ length: Number(process.env.MESH_AB_HEADERS ?? 0) }, (_, i) => [`x-bench-${i}`, 'value']));
    // Plain nginx is given them too: what the plane costs over it, not what parsing them costs.
    const plain = await instructionsPerRequest(nginx.workerPid()!, nginxPrefixOf(nginx.workerPid()!), `${nginx.url}/up/healthz`, extraHeaders, seconds, 'nginx');
    console.log(`nginx: ${Math.round(plain)} instructions/request (user space)`);
    // Each request is a span or none, whatever the rate callgrind lets through: one that comes
    // without a trace (as wrk's, and most callers' at the edge of the mesh) has the plane start
    // one, unsampled (the plane samples none here: MESH_TRACE_SAMPLES=0; it would sample up to 100
    // a second, a share of a few hundred that would move the figure); the others carry the
    // caller's flag. Without a trace first: a function LuaJIT gives up on then stays interpreted
    // for the kinds after it too. The plane's once-a-second work (the backend reading its
    // telemetry) is spread over however many requests a second ran, so the variants are counted
    // in turn, MESH_ROUNDS times (default 1), and the medians compared.
    const kinds: Record<string, string | undefined> = { new: undefined, unsampled: '00', sampled: '01' };
    const figures = new Map<string, number[]>();
    for (let r = 0; r < Number(process.env.MESH_ROUNDS ?? 1); r++) {
      for (const c of counted) {
        for (const [kind, flags] of Object.entries(kinds)) {
          const headers = { host: 'bench.bench', ...(flags ? { traceparent: `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-00f067aa0ba902b7-${flags}` } : {}), ...extraHeaders };
          const key = `${c.name}, ${kind} trace`;
          figures.set(key, [...(figures.get(key) ?? []), await instructionsPerRequest(c.pid, c.dir, c.url, headers, seconds, `${c.name}-${kind}`)]);
        }
      }
    }
    for (const [key, ns] of figures) {
      const n = median(ns);
      console.log(`${key}: ${Math.round(n)} instructions/request (nginx's user space; median of ${ns.map(Math.round).join(', ')}), ${(n / plain).toFixed(3)}× plain nginx's, +${Math.round(n - plain)}`);
    }
  } else {
    const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    console.log(`load average ${load()}`);
    for (const c of [1, 64]) {
      const out = await rounds(targets, c, Number(process.env.MESH_ROUNDS ?? 8), 1);
      for (const [k, m] of Object.entries(out)) console.log(`c=${c} ${k}: ${m!.rps} req/s, ${m!.toNginx}× nginx, ${m!.cpuUsPerRequest} µs CPU/req, p50 ${m!.p50} ms, p99 ${m!.p99} ms`);
    }
    console.log(`load average ${load()}`);
  }
} finally {
  for (const stop of stops) await stop();
}
