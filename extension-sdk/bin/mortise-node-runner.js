#!/usr/bin/env node
// The stock Node runner of extension backends in a cluster (deploy/node-runner/Dockerfile).
// Committed (not built), like mortise-ext.js.
import { main } from '../dist/runner/node-runner.js';

await main();
