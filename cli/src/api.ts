import type { Localized } from './output.js';

// The API contract of `extensions.mortise.io/v1alpha1` as the CLI uses it (the core's
// `core/src/schemas/extensions.ts` defines it; DESIGN.md "Resource shapes").

export const extensionsApi = '/apis/extensions.mortise.io/v1alpha1';
export const extensionLabel = 'extensions.mortise.io/extension';
export const repositoryLabel = 'extensions.mortise.io/repository';
/** Set to an RFC 3339 time to ask the repository controller for a sync now. */
export const syncRequestedAnnotation = 'extensions.mortise.io/sync-requested-at';
/** Set to a time to make the installer try a failed install, upgrade or uninstall again. */
export const retryAnnotation = 'extensions.mortise.io/retry-at';
/** "true" lets an uninstall whose steps fail finish anyway. */
export const forceUninstallAnnotation = 'extensions.mortise.io/force-uninstall';

export const repositoriesPath = (name?: string) => `${extensionsApi}/repositories${name ? `/${encodeURIComponent(name)}` : ''}`;
export const extensionsPath = (name?: string) => `${extensionsApi}/extensions${name ? `/${encodeURIComponent(name)}` : ''}`;
export const extensionVersionsPath = () => `${extensionsApi}/extensionversions`;
export const installPlansPath = (name?: string) => `${extensionsApi}/installplans${name ? `/${encodeURIComponent(name)}` : ''}`;
export const categoriesPath = () => `${extensionsApi}/categories`;
export const packageCachePath = '/kapis/extensions.mortise.io/v1alpha1/packagecache';

/** What the core's extensions directory holds (`GET /kapis/extensions.mortise.io/v1alpha1/packagecache`). */
export interface PackageCache {
  limitBytes: number;
  archiveBytes: number;
  archives: Array<{ file: string; size: number; lastUsed: string; neededBy?: string }>;
  unpacked: Array<{ name: string; version: string; size: number; complete: boolean; kept: 'running' | 'previous' | 'installing' | null }>;
  leftovers: Array<{ path: string; size: number }>;
}

export interface ObjectMeta {
  name: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface List<T> {
  items: T[];
  metadata?: { continue?: string; resourceVersion?: string };
}

export interface Repository {
  apiVersion: string;
  kind: 'Repository';
  metadata: ObjectMeta;
  spec: { url: string; description?: string; interval?: string; trustedKeys?: string[] };
  status?: { lastSyncTime?: string; lastSuccessfulSyncTime?: string; extensions?: number; conditions?: Condition[] };
}

export interface Provider {
  name: string;
  email?: string;
  url?: string;
}

export interface Extension {
  metadata: ObjectMeta;
  spec?: {
    displayName?: Localized; description?: Localized; provider?: Provider; icon?: string; category?: string;
    keywords?: string[]; repository?: string; homepage?: string;
  };
  status?: {
    versions?: Array<{ version: string; yanked?: boolean; compatible?: boolean }>;
    latestVersion?: string | null;
    recommendedVersion?: string | null;
  };
}

export interface ExtensionVersion {
  metadata: ObjectMeta;
  spec: {
    extension: string; version: string; license?: string; engines?: Record<string, string>; dependencies?: Record<string, string>;
    digest?: string; url?: string; created?: string; yanked?: boolean; yankedReason?: string; signature?: string;
  };
  status?: { compatible?: boolean };
}

/** Where the installer is: one of its numbered steps (resolve ... routes, then done). */
export interface PlanProgress {
  step: string;
  completed: number;
  total: number;
}

export interface PlanHistoryEntry {
  time: string;
  state: string;
  version?: string;
  message?: string;
}

export interface InstallPlan {
  apiVersion?: string;
  kind?: 'InstallPlan';
  metadata: ObjectMeta & { finalizers?: string[] };
  spec: { extension: { name: string; version: string }; enabled?: boolean; config?: Record<string, unknown>; purgeOnUninstall?: boolean };
  status?: {
    state?: string; installedVersion?: string; targetVersion?: string; message?: string; observedGeneration?: number;
    progress?: PlanProgress; conditions?: Condition[]; history?: PlanHistoryEntry[];
    /** The retry annotation's value the installer last acted on. */
    retriedAt?: string;
  };
}

/** A watch event, as the core streams them (newline-delimited JSON). */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface Category {
  metadata: ObjectMeta;
}

export const condition = (conditions: Condition[] | undefined, type: string) => conditions?.find((c) => c.type === type);

/** Lists every page (`limit`/`continue`), so large marketplaces come back whole. */
export async function listAll<T>(get: (query: Record<string, string | undefined>) => Promise<List<T>>, query: Record<string, string | undefined> = {}): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const page = await get({ ...query, limit: '500', continue: cont });
    items.push(...(page.items ?? []));
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return items;
}
