import type { KubeObject } from '@mortise/extension-sdk/console';

// What the Extension Center's pages share: the API group, the objects they read, and install states.

export const group = 'extensions.mortise.io';
export const version = 'v1alpha1';

type Localized = string | Record<string, string>;

export interface ExtensionObject extends KubeObject {
  spec: { displayName?: Localized; description?: Localized; category?: string; provider?: { name?: string }; keywords?: string[]; license?: string; icon?: string };
  status?: { latestVersion?: string; recommendedVersion?: string; versions?: Array<{ version: string; yanked: boolean; compatible: boolean }> };
}

export interface InstallPlan extends KubeObject {
  spec: { extension: { name: string; version: string }; enabled?: boolean; config?: Record<string, unknown> };
  status?: { state?: string; message?: string; installedVersion?: string; conditions?: Array<{ type: string; status: string; message?: string }> };
}

/** Why the plan is not what its spec asks: a failed install/upgrade, or a configuration the installer refused (the old one stays in use). */
export function planProblem(plan: InstallPlan | undefined): string | undefined {
  if (!plan?.status) return undefined;
  if (/Failed/.test(plan.status.state ?? '')) return plan.status.message;
  const config = plan.status.conditions?.find((c) => c.type === 'ConfigValid');
  return config?.status === 'False' ? plan.status.message ?? config.message : undefined;
}

export const busyStates = new Set(['Pending', 'Downloading', 'Installing', 'Upgrading', 'Uninstalling']);
export const stateProgress: Record<string, number> = { Pending: 10, Downloading: 35, Installing: 70, Upgrading: 70, Uninstalling: 50 };
export const stateColor = (state: string) => (state === 'Installed' ? 'green' : /Failed/.test(state) ? 'red' : 'gray');

/** An ExtensionVersion's object name, as the core makes it: `<extension>-<version>`, DNS-1123 safe. */
export function versionObjectName(extension: string, v: string): string {
  return `${extension}-${v}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/[-.]+$/, '');
}

/** A merge patch turning config `from` into `to`: keys the form dropped are set to null (removed). */
export function configPatch(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...to };
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  return patch;
}

/**
 * Where the console shows a version's icon or screenshot from: an https:// URL as it is, a
 * package path through the core's authenticated media API (any offered version, installed or not).
 */
export function mediaUrl(extension: string, v: string, path: string): string {
  if (/^https:\/\//i.test(path)) return path;
  const encoded = path.split('/').filter((s) => s && s !== '.').map(encodeURIComponent).join('/');
  return `/kapis/${group}/${version}/extensionversions/${versionObjectName(extension, v)}/media/${encoded}`;
}
