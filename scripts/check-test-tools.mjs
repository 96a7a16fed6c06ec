#!/usr/bin/env node
// Runs before `npm test`: the tests drive real tools.
import { ensureDebianTools } from './debian-tools.mjs';

ensureDebianTools([
  { cmd: 'kubectl', debian: 'kubernetes-client', why: 'the API tests drive the real kubectl' },
  { cmd: 'chromium', debian: 'chromium', why: 'the console tests drive headless Chromium (/usr/bin/chromium) with playwright-core' },
  { cmd: 'fonts for Chinese', check: 'fc-list :lang=zh | grep -q .', debian: 'fonts-noto-cjk', why: 'the console tests check that Chinese renders' },
  { cmd: 'bwrap', debian: 'bubblewrap', why: 'the DevOps extension runs pipeline steps in bubblewrap' },
  { cmd: 'git', debian: 'git', why: 'the DevOps tests check out a local git repository' },
]);
