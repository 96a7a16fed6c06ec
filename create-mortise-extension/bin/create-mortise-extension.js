#!/usr/bin/env node
// `npm create mortise-extension NAME [--dir DIR] [--sdk SPEC] [--core SPEC]` is `mortise-ext create NAME ...`.
import { runCli } from '@mortise/extension-sdk';

process.exitCode = await runCli([process.argv[0], 'mortise-ext', 'create', ...process.argv.slice(2)]);
