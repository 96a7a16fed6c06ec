import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser } from './console-bench.js';
import { consoleTable, consoleWithExtensions, consoleWithoutExtensions } from './console-figures.js';
import { coreMain, spawnServer } from './processes.js';

// `node bench/dist/console-run.js`: the console's section of `npm run bench` alone, against a
// core of its own (fresh data dir), hello-world installed from the bundled repository.

const password = 'bench-admin-password';
const ext = '/apis/extensions.mortise.io/v1alpha1';

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'mortise-bench-console-'));
  const core = await spawnServer(coreMain, { MORTISE_DATA_DIR: dataDir, MORTISE_ADMIN_PASSWORD: password });
  try {
    const res = await fetch(`${core.url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password }) });
    const auth = { authorization: `Bearer ${((await res.json()) as { access_token: string }).access_token}`, 'content-type': 'application/json' };
    const browser = await launchBrowser();
    const bare = await consoleWithoutExtensions(browser, core.url, password);
    const until = async (check: () => Promise<boolean>) => {
      for (const deadline = Date.now() + 120_000; !(await check());) {
        if (Date.now() > deadline) throw new Error('hello-world did not start serving');
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await until(async () => (await fetch(`${core.url}${ext}/extensionversions/hello-world-0.1.0`, { headers: auth })).ok);
    await fetch(`${core.url}${ext}/installplans`, { method: 'POST', headers: auth, body: JSON.stringify({ metadata: { name: 'hello-world' }, spec: { extension: { name: 'hello-world', version: '0.1.0' }, enabled: true } }) });
    await until(async () => (await fetch(`${core.url}/proxy/hello-world/hello`, { headers: auth })).ok);
    const extended = await consoleWithExtensions(browser, core.url, auth, password);
    await browser.close();
    process.stdout.write(`${consoleTable(bare, extended).join('\n')}\n`);
  } finally {
    await core.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`console bench failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
