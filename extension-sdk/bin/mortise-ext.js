#!/usr/bin/env node
// Committed (not built) so npm links the command at install time, before `npm run build`
// has written extension-sdk/dist/cli/mortise-ext.js.
import '../dist/cli/mortise-ext.js';
