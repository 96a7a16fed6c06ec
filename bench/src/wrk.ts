import { spawn } from 'node:child_process';
import type { LoadResult } from './load.js';

export interface WrkSpec {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  durationSec: number;
}

/**
 * Debian's wrk against one URL (one thread: the servers under test keep the other core). Native
 * and event-driven, it measures servers faster than a Node load generator can drive them.
 */
export async function wrk(spec: WrkSpec): Promise<LoadResult> {
  const args = ['-t1', `-c${spec.connections}`, `-d${spec.durationSec}s`, '--latency'];
  // wrk replaces its own Host only for a header spelled exactly `Host`; any other spelling sends
  // two Host headers in an order that changes from run to run (and the server keeps the first).
  for (const [name, value] of Object.entries(spec.headers ?? {})) args.push('-H', `${name.toLowerCase() === 'host' ? 'Host' : name}: ${value}`);
  args.push(spec.url);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (text += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${err || text}`))));
  });
  return parseWrk(out);
}

const unitsMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Latencies in ms, like the autocannon results. */
export function parseWrk(out: string): LoadResult {
  const latency = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? Math.round(Number(m[1]) * unitsMs[m[2]!]! * 1000) / 1000 : NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0)),
    p50: latency('50'),
    p90: latency('90'),
    p99: latency('99'),
    errors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    requests,
  };
}
