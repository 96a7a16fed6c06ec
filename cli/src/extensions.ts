import { extensionsPath, installPlansPath, listAll, type Extension, type InstallPlan, type List, type Provider } from './api.js';
import type { CoreClient } from './client/core-client.js';
import { ApiStatusError } from './errors.js';
import { allTexts, localize, renderTable, truncate } from './output.js';

/** Where an extension stands on this core, from its InstallPlan. */
export interface InstallState {
  state: string;
  /** The version running now (none before the first install finishes). */
  version: string | null;
  /** The version the plan asks for. */
  targetVersion: string;
  enabled: boolean;
  message: string | null;
}

/** An extension as `extension list/search -o json` prints it. */
export interface ExtensionView {
  name: string;
  displayName: string;
  description: string;
  category: string;
  keywords: string[];
  provider: Provider | null;
  repository: string | null;
  latestVersion: string | null;
  recommendedVersion: string | null;
  installed: InstallState | null;
}

export function installState(plan: InstallPlan | undefined): InstallState | null {
  if (!plan) return null;
  return {
    state: plan.status?.state ?? 'Pending',
    version: plan.status?.installedVersion ?? null,
    targetVersion: plan.spec.extension.version,
    enabled: plan.spec.enabled !== false,
    message: plan.status?.message ?? null,
  };
}

export function extensionView(ext: Extension, plan?: InstallPlan): ExtensionView {
  return {
    name: ext.metadata.name,
    displayName: localize(ext.spec?.displayName) || ext.metadata.name,
    description: localize(ext.spec?.description),
    category: ext.spec?.category ?? '',
    keywords: ext.spec?.keywords ?? [],
    provider: ext.spec?.provider ?? null,
    repository: ext.spec?.repository ?? null,
    latestVersion: ext.status?.latestVersion ?? null,
    recommendedVersion: ext.status?.recommendedVersion ?? null,
    installed: installState(plan),
  };
}

/** "1.0.0", "1.0.0 (Disabled)", "Installing" — what the INSTALLED column says. */
export function installedText(state: InstallState | null): string {
  if (!state) return '-';
  if (!state.version) return state.state;
  return state.state === 'Installed' ? state.version : `${state.version} (${state.state})`;
}

export function extensionTable(views: ExtensionView[], options: { installed: boolean }): string {
  const headers = ['NAME', 'LATEST', 'RECOMMENDED', 'CATEGORY', ...(options.installed ? ['INSTALLED'] : []), 'DESCRIPTION'];
  return renderTable(headers, views.map((v) => [
    v.name, v.latestVersion ?? '-', v.recommendedVersion ?? '-', v.category || '-',
    ...(options.installed ? [installedText(v.installed)] : []), truncate(v.description, 60),
  ]));
}

export async function listExtensions(client: CoreClient): Promise<Extension[]> {
  const items = await listAll((q) => client.get<List<Extension>>(extensionsPath(), q));
  return items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/** InstallPlans by extension name (plans are named after their extension). */
export async function installPlansByExtension(client: CoreClient): Promise<Map<string, InstallPlan>> {
  let plans: InstallPlan[];
  try {
    plans = await listAll((q) => client.get<List<InstallPlan>>(installPlansPath(), q));
  } catch (e) {
    // A core that does not serve InstallPlans has nothing installed.
    if (e instanceof ApiStatusError && e.httpStatus === 404) return new Map();
    throw e;
  }
  return new Map(plans.map((p) => [p.spec?.extension?.name ?? p.metadata.name, p]));
}

/**
 * Whether every word of the query occurs (case-insensitively) in the name, a display name or
 * description in any language, or a keyword. Ranked: exact name, name prefix, name, elsewhere.
 */
export function searchRank(ext: Extension, query: string): number | undefined {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return 3;
  const name = ext.metadata.name.toLowerCase();
  const haystack = [name, ...allTexts(ext.spec?.displayName), ...allTexts(ext.spec?.description), ...(ext.spec?.keywords ?? [])].map((t) => t.toLowerCase());
  if (!words.every((w) => haystack.some((h) => h.includes(w)))) return undefined;
  const q = words.join(' ');
  if (name === q) return 0;
  if (name.startsWith(q)) return 1;
  if (name.includes(q)) return 2;
  return 3;
}
