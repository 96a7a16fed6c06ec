#!/usr/bin/env node
// Runs before `npm test`: the tests drive real tools. What is missing is installed when we can
// (root with apt-get, as on CI), otherwise the message says how.
import { execFileSync, spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;

const tools = [
  { cmd: 'kubectl', debian: 'kubernetes-client', why: 'the API tests drive the real kubectl' },
];

let missing = [];
for (const tool of tools) {
  if (has(tool.cmd)) continue;
  if (isRoot && has('apt-get')) {
    process.stdout.write(`installing ${tool.debian} (${tool.why})...\n`);
    try {
      execFileSync('sh', ['-c', `apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${tool.debian} >/dev/null`], { stdio: 'inherit' });
    } catch {
      // reported below
    }
  }
  if (!has(tool.cmd)) missing.push(tool);
}
if (missing.length) {
  for (const t of missing) process.stderr.write(`missing ${t.cmd}: ${t.why}. Install it with: sudo apt-get install -y ${t.debian}\n`);
  process.exit(1);
}
