import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// Runs services of the sample application (examples/mesh-shop) as real processes on free ports.

export const shopService = join(import.meta.dirname, '..', '..', '..', '..', 'examples', 'mesh-shop', 'service.mjs');

export interface ShopProcess { name: string; version: string; url: string; proc: ChildProcess; behave(q: Record<string, number>): Promise<void>; stop(): Promise<void> }

export async function startShopService(env: { NAME: string; VERSION?: string; MESH_URL?: string; NAMESPACE?: string; CALLS?: string; FAIL_RATE?: string; FAIL_EVERY?: string; DELAY_MS?: string }): Promise<ShopProcess> {
  const proc = spawn(process.execPath, [shopService], { env: { PATH: process.env.PATH, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    lines.once('line', (l) => resolve((JSON.parse(l) as { listening: number }).listening));
    proc.once('exit', (code) => reject(new Error(`${env.NAME} exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    name: env.NAME, version: env.VERSION ?? 'v1', url, proc,
    async behave(q) {
      const res = await fetch(`${url}/admin/behaviour?${new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)]))}`, { method: 'POST' });
      if (!res.ok) throw new Error(`behaviour: ${res.status}`);
    },
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}
