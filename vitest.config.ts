import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A temp dir for the run; the run fails naming what tests left in it.
    globalSetup: ['scripts/vitest-temp-dir.ts', 'core/test/support/bundle-global-setup.ts'],
  },
});
