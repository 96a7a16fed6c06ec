import { condition, extensionVersionsPath, listAll, repositoriesPath, repositoryLabel, type ExtensionVersion, type List, type Repository } from './api.js';
import type { CoreClient } from './client/core-client.js';
import { CliError } from './errors.js';
import { ago, formatDuration, renderTable } from './output.js';
import type { Progress } from './progress.js';

/** A repository as `repo list -o json` prints it. */
export interface RepositoryView {
  name: string;
  url: string;
  interval: string;
  trustedKeys: number;
  extensions: number | null;
  /** The `Synced` condition: "True", "False", or "Unknown" before the first sync. */
  synced: string;
  reason: string | null;
  message: string | null;
  lastSyncTime: string | null;
  lastSuccessfulSyncTime: string | null;
}

export function repositoryView(repo: Repository): RepositoryView {
  const synced = condition(repo.status?.conditions, 'Synced');
  return {
    name: repo.metadata.name,
    url: repo.spec.url,
    interval: repo.spec.interval ?? '10m',
    trustedKeys: repo.spec.trustedKeys?.length ?? 0,
    extensions: repo.status?.extensions ?? null,
    synced: synced?.status ?? 'Unknown',
    reason: synced?.reason ?? null,
    message: synced?.message ?? null,
    lastSyncTime: repo.status?.lastSyncTime ?? null,
    lastSuccessfulSyncTime: repo.status?.lastSuccessfulSyncTime ?? null,
  };
}

export function repositoryTable(repos: RepositoryView[]): string {
  return renderTable(['NAME', 'URL', 'EXTENSIONS', 'SYNCED', 'LAST SYNC'], repos.map((r) => [
    r.name, r.url, r.extensions === null ? '-' : String(r.extensions), r.synced, ago(r.lastSyncTime ?? undefined),
  ]));
}

/** `extension@version` of every ExtensionVersion the repository brought. */
export async function versionsOf(client: CoreClient, repo: string): Promise<Set<string>> {
  const items = await listAll((q) => client.get<List<ExtensionVersion>>(extensionVersionsPath(), q), { labelSelector: `${repositoryLabel}=${repo}` });
  return new Set(items.map((v) => `${v.spec.extension} ${v.spec.version}`));
}

export interface WaitOptions {
  /** Done when this returns true for the repository as read. */
  done: (repo: Repository) => boolean;
  timeoutMs: number;
  progress: Progress;
  pollMs?: number;
}

/** Polls the repository until `done`, showing what it is waiting for. */
export async function waitForSync(client: CoreClient, name: string, options: WaitOptions): Promise<Repository> {
  const started = Date.now();
  const pollMs = options.pollMs ?? 250;
  for (;;) {
    const repo = await client.get<Repository>(repositoriesPath(name));
    if (options.done(repo)) return repo;
    if (repo.metadata.deletionTimestamp) throw new CliError(`repository "${name}" is being deleted`);
    const elapsed = Date.now() - started;
    if (elapsed > options.timeoutMs) {
      throw new CliError(`repository "${name}" did not finish syncing within ${formatDuration(options.timeoutMs)}`, [
        'the sync may still happen: check with `mortise repo list`',
        'if it never does, the core\'s repository controller is not running',
      ]);
    }
    options.progress.detail(`waiting for the repository controller to fetch ${repo.spec.url}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The result of a sync that finished: success, or the condition's message as an error. */
export function syncOutcome(repo: Repository): { ok: true; message: string } | { ok: false; message: string } {
  const synced = condition(repo.status?.conditions, 'Synced');
  if (synced?.status === 'True') return { ok: true, message: synced.message ?? `${repo.status?.extensions ?? 0} extensions` };
  return { ok: false, message: synced?.message ?? 'the sync failed without saying why' };
}
