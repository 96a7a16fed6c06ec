import type { KeyObject } from 'node:crypto';
import type { PackageLimits } from '@mortise/extension-sdk';
import type pino from 'pino';

export interface PublishToken {
  token: string;
  /**
   * When set, this token may only publish and yank extensions whose `provider.name` is this
   * publisher. Without it the token may act on any extension.
   */
  publisher?: string;
}

export interface MarketplaceOptions {
  /** Holds one directory per repository: `<dataDir>/<repo>/index.yaml` and `packages/`. */
  dataDir: string;
  tokens: PublishToken[];
  /** Refuse packages without a signature by one of `trustedKeys`. */
  requireSignature?: boolean;
  /** ed25519 public keys (PEM) that signatures are checked against. */
  trustedKeys?: Array<string | KeyObject>;
  /** Public URL of this server, for absolute links in API answers; default: from the request. */
  baseUrl?: string;
  /** Repositories created empty at start if missing; default ["main"]. */
  repositories?: string[];
  limits?: Partial<PackageLimits>;
  logger?: pino.Logger;
  /** Used when no logger is given; default "info". */
  logLevel?: pino.LevelWithSilent;
  /** On close, how long requests in flight may take before their connections are cut; default 5000 ms. */
  shutdownGraceMs?: number;
  /** How long download counts may sit in memory before being written; default 1000 ms. */
  downloadFlushIntervalMs?: number;
}

export const DEFAULT_REPOSITORY = 'main';
/** First path segments the server uses itself; no repository may take them. */
export const RESERVED_REPOSITORY_NAMES = new Set(['api', 'healthz', 'readyz', 'metrics']);
