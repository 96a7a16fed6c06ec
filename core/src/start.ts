#!/usr/bin/env node
import { hashAdminPasswordEarly } from './auth/early-admin-password.js';

// The bundle's entry (core/dist/bundle/main.js): what a first start can begin before the core's
// code is loaded, then the core (main.ts, a chunk of its own).
hashAdminPasswordEarly();
await import('./main.js');
