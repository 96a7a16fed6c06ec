import type { KeyObject } from 'node:crypto';
import type { PackageLimits } from '@mortise/extension-sdk';
import type { Context } from 'koa';
import type pino from 'pino';
import type { Publisher } from './http/auth.js';
import type { PackageContents } from './store/package-contents.js';
import type { Repositories } from './store/repositories.js';

/** What the route handlers share. */
export interface Services {
  repositories: Repositories;
  authenticate(ctx: Context): Publisher;
  limits: PackageLimits;
  requireSignature: boolean;
  trustedKeys: KeyObject[];
  packages: PackageContents;
  logger: pino.Logger;
  /** Absolute URL of a path on this server (from `baseUrl`, else from the request). */
  publicUrl(ctx: Context, path: string): string;
}
