import { existsSync } from 'node:fs';
import { join } from 'node:path';

// What every benchmark does with the core it started: sign in, and wait until the background
// staging of the platform modules (a first start's) is done, so it is not measured.

/** An access token for a user of the core, by the password grant. */
export async function passwordToken(url: string, password: string, username = 'admin'): Promise<string> {
  const res = await fetch(`${url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username, password }) });
  const body = (await res.json()) as { access_token?: string; error_description?: string };
  if (!body.access_token) throw new Error(`sign-in as ${username} failed: ${res.status} ${body.error_description ?? ''}`);
  return body.access_token;
}

/** Resolves once the core with this data dir has staged its platform modules. */
export async function platformModulesStaged(dataDir: string, timeoutMs = 60_000): Promise<void> {
  const stamp = join(dataDir, 'extensions', 'unpacked', 'node_modules', '.mortise-platform-modules');
  for (const deadline = Date.now() + timeoutMs; !existsSync(stamp); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > deadline) throw new Error(`the core did not stage its platform modules within ${timeoutMs} ms`);
  }
}
