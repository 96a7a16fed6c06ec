#!/usr/bin/env node
// Runs before `npm test`: the tests drive real tools.
import { ensureDebianTools } from './debian-tools.mjs';

ensureDebianTools([
  { cmd: 'kubectl', debian: 'kubernetes-client', why: 'the API tests drive the real kubectl' },
]);
