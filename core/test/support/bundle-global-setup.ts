import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The tests that start the core as a child process run its bundle (`npm start` does); after a
// bare `npx tsc -b` it would be older than the code, so it is rebuilt once, before any test file.
export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/bundle.mjs', import.meta.url)), '--if-stale'], { stdio: 'inherit' });
}
