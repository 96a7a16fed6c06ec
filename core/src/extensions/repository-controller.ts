import type { Logger } from 'pino';
import { RepositoryClient, latestEntry, versionsOf, type IndexEntry, type RepositoryIndex } from '@mortise/extension-sdk/repository';
import { ApiError } from '../api/status.js';
import { mergeConditions, type Condition } from '../controller/conditions.js';
import { Controller } from '../controller/controller.js';
import { ignoreNotFound } from '../controller/garbage-collector.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject, OwnerReference } from '../store/resource-store.js';
import { extensionLabel, extensionsGroup } from '../schemas/extensions.js';
import { summarize, versionObjectName } from './extension-versions.js';
import { describeSyncFailure } from './repository-failure.js';
import { repositoryCredentials, type RepositoryCredentialsSpec } from './repository-credentials.js';

export const repositoryLabel = 'extensions.mortise.io/repository';
/** Set (to a timestamp) to ask for a sync now; `mortise repo sync` does. */
export const syncRequestedAnnotation = 'extensions.mortise.io/sync-requested-at';

interface RepositorySpec {
  url: string;
  interval?: string;
  trustedKeys?: string[];
  credentials?: RepositoryCredentialsSpec;
}

interface RepositoryStatus {
  lastSyncTime?: string;
  lastSuccessfulSyncTime?: string;
  observedGeneration?: number;
  extensions?: number;
  /** Extensions this repository offers that another repository already provides (and keeps). */
  conflicts?: Conflict[];
  conditions?: Condition[];
}

/** An extension offered here that `repository` already provides. */
export interface Conflict {
  extension: string;
  repository: string;
}

export function parseInterval(text: string | undefined, fallbackMs = 10 * 60_000): number {
  if (!text) return fallbackMs;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.max(ms, 1000);
}

/**
 * Syncs Repository resources into Extension, ExtensionVersion and Category resources. A
 * repository that fails keeps its last good data and says why in its status.
 */
export class RepositoryController extends Controller {
  private readonly repoDef: KindDefinition;
  private readonly extDef: KindDefinition;
  private readonly versionDef: KindDefinition;
  private readonly categoryDef: KindDefinition;

  constructor(private readonly service: ResourceService, kinds: KindRegistry, private readonly coreVersion: string, logger: Logger) {
    super({ name: 'repository', logger, resyncMs: 60_000, baseDelayMs: 1000, maxDelayMs: 5 * 60_000 });
    this.repoDef = kinds.byGroupResource(extensionsGroup, 'repositories')!;
    this.extDef = kinds.byGroupResource(extensionsGroup, 'extensions')!;
    this.versionDef = kinds.byGroupResource(extensionsGroup, 'extensionversions')!;
    this.categoryDef = kinds.byGroupResource(extensionsGroup, 'categories')!;
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w = this.service.store.watch(this.service.ref(this.repoDef), {}, (e) => {
      // Our own status writes change neither generation nor annotations: no loop.
      const before = e.previous;
      if (e.type === 'MODIFIED' && before && before.metadata.generation === e.object.metadata.generation
        && before.metadata.annotations?.[syncRequestedAnnotation] === e.object.metadata.annotations?.[syncRequestedAnnotation]) return;
      if (e.type !== 'DELETED') enqueue(e.name);
    });
    return () => w.stop();
  }

  protected async listKeys(): Promise<string[]> {
    return (await this.service.store.list(this.service.ref(this.repoDef))).items.map((r) => r.metadata.name!);
  }

  protected async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const repo = await this.service.getStored(this.repoDef, '', name);
    if (!repo || repo.metadata.deletionTimestamp) return;
    const spec = repo.spec as RepositorySpec;
    const status = (repo.status ?? {}) as RepositoryStatus;
    const interval = parseInterval(spec.interval);
    const last = status.lastSyncTime ? Date.parse(status.lastSyncTime) : 0;
    const requested = Date.parse(repo.metadata.annotations?.[syncRequestedAnnotation] ?? '') || 0;
    const due = status.observedGeneration !== repo.metadata.generation || requested > last || Date.now() - last >= interval;
    if (!due) return { requeueAfterMs: Math.max(1000, last + interval - Date.now()) };

    const started = new Date().toISOString();
    let index: RepositoryIndex;
    try {
      const client = new RepositoryClient({ url: spec.url, credentials: repositoryCredentials(spec), trustedKeys: spec.trustedKeys, timeoutMs: 30_000 });
      index = await client.fetchIndex();
    } catch (e) {
      const kept = status.lastSuccessfulSyncTime ? `; keeping the data of the last successful sync (${status.lastSuccessfulSyncTime})` : '; it has never synced successfully';
      const message = `${describeSyncFailure(e, spec.url)}${kept}`;
      this.logger.warn({ event: 'repository.sync-failed', repository: name, err: (e as Error).message, problems: (e as { details?: { problems?: unknown[] } }).details?.problems?.slice(0, 10) }, 'repository sync failed');
      await this.setStatus(repo, { lastSyncTime: started, observedGeneration: repo.metadata.generation }, [{ type: 'Synced', status: 'False', reason: 'FetchFailed', message }]);
      return { requeueAfterMs: Math.min(interval, 30_000) };
    }
    const owner: OwnerReference = { apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'Repository', name, uid: repo.metadata.uid! };
    const { count, conflicts } = await this.apply(name, owner, index);
    const versions = Object.values(index.entries).reduce((n, e) => n + e.length, 0);
    const conflictText = conflicts.map((c) => `"${c.extension}" (provided by repository "${c.repository}")`).join(', ');
    await this.setStatus(repo, { lastSyncTime: started, lastSuccessfulSyncTime: started, observedGeneration: repo.metadata.generation, extensions: count, conflicts }, [
      {
        type: 'Synced', status: 'True', reason: conflicts.length ? 'SyncedWithConflicts' : 'Synced',
        message: `${count} extensions, ${versions} versions${conflicts.length ? `; not taken, as another repository provides them: ${conflictText}` : ''}`,
      },
      conflicts.length
        ? { type: 'Conflicting', status: 'True', reason: 'OfferedByAnotherRepository', message: `${conflicts.length} extension${conflicts.length === 1 ? ' is' : 's are'} provided by another repository, which keeps ${conflicts.length === 1 ? 'it' : 'them'} (the first repository to offer an extension keeps it): ${conflictText}` }
        : { type: 'Conflicting', status: 'False', reason: 'NoConflicts', message: '' },
    ]);
    this.logger.info({ event: 'repository.synced', repository: name, extensions: count }, 'repository synced');
    return { requeueAfterMs: interval };
  }

  /** Makes the cluster's Extensions, ExtensionVersions and Categories match the index. */
  private async apply(repo: string, owner: OwnerReference, index: RepositoryIndex): Promise<{ count: number; conflicts: Conflict[] }> {
    const labels = (ext: string) => ({ [extensionLabel]: ext, [repositoryLabel]: repo });
    const keepVersions = new Set<string>();
    const conflicts: Conflict[] = [];
    let count = 0;
    for (const [extName, entries] of Object.entries(index.entries)) {
      if (entries.length === 0) continue;
      const existing = await this.service.getStored(this.extDef, '', extName);
      const otherRepo = existing?.metadata.labels?.[repositoryLabel];
      if (existing && otherRepo && otherRepo !== repo) {
        this.logger.warn({ event: 'repository.conflict', repository: repo, extension: extName, owner: otherRepo }, 'extension offered by two repositories; keeping the first');
        conflicts.push({ extension: extName, repository: otherRepo });
        continue;
      }
      count++;
      for (const e of entries) {
        const vname = versionObjectName(extName, e.version);
        keepVersions.add(vname);
        await this.upsert(this.versionDef, vname, {
          metadata: { name: vname, labels: labels(extName), ownerReferences: [owner] },
          spec: versionSpec(repo, e),
        });
      }
      const latest = latestEntry(index, extName, { includeYanked: true }) ?? entries[0]!;
      await this.upsert(this.extDef, extName, {
        metadata: { name: extName, labels: labels(extName), ownerReferences: [owner] },
        spec: {
          displayName: latest.displayName, description: latest.description, provider: latest.provider, category: latest.category,
          keywords: latest.keywords, repository: repo, ...(latest.icon ? { icon: latest.icon } : {}), ...(latest.homepage ? { homepage: latest.homepage } : {}),
        },
      });
      const summary = summarize(entries, this.coreVersion);
      const ext = await this.service.getStored(this.extDef, '', extName);
      const current = (ext?.status ?? {}) as Record<string, unknown>;
      const next = { ...current, versions: summary.versions, latestVersion: summary.latestVersion ?? null, recommendedVersion: summary.recommendedVersion ?? null };
      if (JSON.stringify({ ...current, latestVersion: current.latestVersion ?? null, recommendedVersion: current.recommendedVersion ?? null }) !== JSON.stringify(next)) {
        await this.service.patch(this.extDef, '', extName, 'merge', { status: { versions: summary.versions, latestVersion: summary.latestVersion ?? null, recommendedVersion: summary.recommendedVersion ?? null } }, {}, { subresource: 'status' });
      }
    }
    for (const category of index.categories) {
      await this.upsert(this.categoryDef, category, { metadata: { name: category, labels: { [repositoryLabel]: repo } }, spec: { displayName: category } }, false);
    }
    // Versions (and extensions) this repository no longer offers go away.
    const { items: versions } = await this.service.list(this.versionDef, '', { labelSelector: `${repositoryLabel}=${repo}` });
    for (const v of versions) if (!keepVersions.has(v.metadata.name!)) await this.service.delete(this.versionDef, '', v.metadata.name!).catch(ignoreNotFound);
    const { items: exts } = await this.service.list(this.extDef, '', { labelSelector: `${repositoryLabel}=${repo}` });
    for (const x of exts) if (!versionsOf(index, x.metadata.name!)?.length) await this.service.delete(this.extDef, '', x.metadata.name!).catch(ignoreNotFound);
    return { count, conflicts };
  }

  /** Creates, or updates when the spec or labels differ. */
  private async upsert(def: KindDefinition, name: string, desired: { metadata: KubeObject['metadata']; spec: unknown }, overwrite = true): Promise<void> {
    const existing = await this.service.getStored(def, '', name);
    if (!existing) {
      try {
        await this.service.create(def, '', { apiVersion: `${def.group}/${def.version}`, kind: def.kind, ...desired }, {});
      } catch (e) {
        if (!(e instanceof ApiError && e.reason === 'AlreadyExists')) throw e;
      }
      return;
    }
    if (!overwrite) return;
    const sameSpec = JSON.stringify(existing.spec) === JSON.stringify(desired.spec);
    const sameLabels = JSON.stringify(existing.metadata.labels ?? {}) === JSON.stringify({ ...(existing.metadata.labels ?? {}), ...(desired.metadata.labels ?? {}) });
    if (sameSpec && sameLabels) return;
    await this.service.update(def, '', name, {
      ...existing, metadata: { ...existing.metadata, labels: { ...(existing.metadata.labels ?? {}), ...(desired.metadata.labels ?? {}) }, ownerReferences: desired.metadata.ownerReferences }, spec: desired.spec,
    }, {});
  }

  private async setStatus(repo: KubeObject, fields: RepositoryStatus, conditions: Condition[]) {
    const merged = mergeConditions(((repo.status ?? {}) as RepositoryStatus).conditions, conditions);
    await this.service.patch(this.repoDef, '', repo.metadata.name!, 'merge', { status: { ...fields, conditions: merged } }, {}, { subresource: 'status' }).catch(ignoreNotFound);
  }
}

function versionSpec(repo: string, e: IndexEntry) {
  return {
    extension: e.name, version: e.version, displayName: e.displayName, description: e.description, keywords: e.keywords,
    category: e.category, provider: e.provider, ...(e.icon ? { icon: e.icon } : {}), license: e.license, ...(e.homepage ? { homepage: e.homepage } : {}),
    engines: e.engines, dependencies: e.dependencies, digest: e.digest, url: e.urls[0], repository: repo,
    ...(e.signature ? { signature: e.signature } : {}), created: e.created, yanked: !!e.yanked, ...(e.yankedReason ? { yankedReason: e.yankedReason } : {}),
  };
}
