#!/usr/bin/env node
// Committed (not built) so npm links the command at install time, before `npm run build`
// has written marketplace/dist/main.js.
import '../dist/main.js';
