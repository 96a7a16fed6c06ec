import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startChildCore, type ChildCore } from '../../core/test/support/child-core.js';

// docs/isv-tutorial.md, run as written: every ```sh block, in order, in one bash session, in an
// empty directory outside the repository, against a real core started as `npm start` would.
// It also measures the tutorial's two figures (printed, not asserted: the machine decides them).

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tutorial = readFileSync(join(repo, 'docs', 'isv-tutorial.md'), 'utf8');

/** The ```sh blocks of a markdown text, in order. */
export function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

describe('docs/isv-tutorial.md', () => {
  const root = mkdtempSync(join(tmpdir(), 'mortise-tutorial-'));
  let core: ChildCore | undefined;
  afterAll(async () => {
    await core?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('runs as written: create, test, publish, install, dev, release, upgrade', async () => {
    const blocks = shellBlocks(tutorial);
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const adminPassword = 'tutorial-admin-password';
    core = await startChildCore({
      MORTISE_DATA_DIR: join(root, 'core'), MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_BUNDLED_REPOSITORY: 'off', MORTISE_LOG_LEVEL: 'warn',
    }, { readyTimeoutMs: 60_000 });
    const work = join(root, 'work');
    const home = join(root, 'home');
    mkdirSync(work, { recursive: true });
    mkdirSync(home, { recursive: true });
    // Each block between markers, so the script's own output says when each began and ended.
    const script = ['set -euo pipefail', ...blocks.flatMap((b, i) => [`echo "@@ ${i} start $(date +%s%3N)"`, b, `echo "@@ ${i} end $(date +%s%3N)"`])].join('\n');
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('MORTISE_') && !k.startsWith('npm_')) env[k] = v;
    Object.assign(env, {
      HOME: home, npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
      MORTISE_HOME: repo, MORTISE_URL: core.url, MORTISE_ADMIN_PASSWORD: adminPassword, MARKETPLACE_PORT: String(await freePort()),
    });
    const child = spawn('bash', ['-c', script], { cwd: work, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    expect(code, out).toBe(0);

    const at = (i: number, edge: 'start' | 'end') => Number(new RegExp(`@@ ${i} ${edge} (\\d+)$`, 'm').exec(out)![1]);
    const firstAnswer = blocks.findIndex((b) => b.includes('/proxy/acme-notes/hello'));
    const devChange = blocks.findIndex((b) => b.includes("sed -i 's/${greeting}"));
    expect(out).toContain('{"message":"Hello, admin!","user":"admin"}');
    // After dev stops, the installed 0.1.0 answers again; after the upgrade, 0.2.0 has the change.
    expect(out.match(/\{"message":"Hello, admin!","user":"admin"\}/g)).toHaveLength(2);
    expect(out).toMatch(/\{"message":"Hello from dev, admin!","user":"admin"\}\s*@@ \d+ end/);
    expect(out).toContain('acme-notes upgraded from 0.1.0 to 0.2.0.');
    const toGateway = (at(firstAnswer, 'end') - at(0, 'start')) / 1000;
    const devSeconds = (at(devChange, 'end') - at(devChange, 'start')) / 1000;
    console.log(`tutorial: empty directory → answering through the gateway in ${toGateway.toFixed(1)} s (npm install and npm test included); code change → visible with dev in ${devSeconds.toFixed(2)} s`);
  }, 900_000);
});
