import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  condition, extensionLabel, extensionsPath, extensionVersionsPath, installPlansPath, listAll,
  type Condition, type Extension, type ExtensionVersion, type InstallPlan, type List, type PlanHistoryEntry, type PlanProgress as StepProgress,
} from './api.js';
import type { CoreClient } from './client/core-client.js';
import { ApiStatusError, CliError } from './errors.js';
import { formatDuration } from './output.js';
import type { PlanProgress } from './plan-progress.js';

// What `mortise extension install/enable/disable/upgrade/config/retry/uninstall/status` share:
// the InstallPlan (named after its extension) is the whole interface to the core's installer.

export const failedStates = ['InstallFailed', 'UpgradeFailed'];
/** States in which the installer is done with the plan's spec (see `settled`). */
export const restingStates = ['Installed', 'Disabled'];

/** The Extension, or an error that says how to find one. */
export async function requireExtension(client: CoreClient, name: string): Promise<Extension> {
  const ext = await client.find<Extension>(extensionsPath(name));
  if (!ext) {
    throw new CliError(`no extension "${name}" in the marketplace`, [
      'find one with `mortise extension search`; a repository may need a sync (`mortise repo sync NAME`)',
    ]);
  }
  return ext;
}

/** The extension's InstallPlan, or an error saying it is not installed. */
export async function requirePlan(client: CoreClient, name: string): Promise<InstallPlan> {
  const plan = await client.find<InstallPlan>(installPlansPath(name));
  if (!plan) throw await notInstalled(client, name);
  return plan;
}

async function notInstalled(client: CoreClient, name: string): Promise<CliError> {
  const offered = await client.find<Extension>(extensionsPath(name));
  if (offered) return new CliError(`extension "${name}" is not installed`, [`install it with \`mortise extension install ${name}\``]);
  return new CliError(`extension "${name}" is not installed, and no repository offers it`, [
    'see what is installed with `mortise extension list --installed`',
  ]);
}

/** Refuses to change a plan the core is uninstalling. */
export function assertNotUninstalling(plan: InstallPlan): void {
  if (plan.metadata.deletionTimestamp) {
    throw new CliError(`extension "${plan.metadata.name}" is being uninstalled (${plan.status?.state ?? 'Uninstalling'}${plan.status?.message ? `: ${plan.status.message}` : ''})`, [
      `wait for it with \`mortise extension uninstall ${plan.metadata.name}\`, then install it again`,
    ]);
  }
}

/**
 * The version to install or upgrade to: the one asked for, else the Extension's recommended
 * version (newest, not yanked, runs on this core). A version no repository offers is refused,
 * and so are yanked versions and versions for other cores unless `force`; the errors name the
 * versions that are offered.
 */
export async function chooseVersion(client: CoreClient, ext: Extension, requested: string | undefined, force: boolean): Promise<string> {
  const name = ext.metadata.name;
  const versions = ext.status?.versions ?? [];
  const offered = `offered: ${versions.length ? versions.map((v) => `${v.version}${v.yanked ? ' (yanked)' : v.compatible === false ? ' (not for this core)' : ''}`).join(', ') : 'none'}`;
  if (requested === undefined) {
    const recommended = ext.status?.recommendedVersion;
    if (!recommended) {
      throw new CliError(`extension "${name}" has no version to recommend: every version is yanked or needs another Mortise core`, [
        offered, 'pick one with --version V (add --force for a yanked one or one for another core)',
      ]);
    }
    return recommended;
  }
  const entry = versions.find((v) => v.version === requested);
  if (!entry) {
    throw new CliError(`extension "${name}" has no version ${requested}`, [offered, 'a repository may need a sync: `mortise repo sync NAME`']);
  }
  if (force || (!entry.yanked && entry.compatible !== false)) return requested;
  const spec = (await listAll((q) => client.get<List<ExtensionVersion>>(extensionVersionsPath(), q), { labelSelector: `${extensionLabel}=${name}` }))
    .find((v) => v.spec.version === requested)?.spec;
  const why = entry.yanked
    ? `is yanked${spec?.yankedReason ? ` (${spec.yankedReason})` : ''}: its publisher withdrew it`
    : `does not run on this core${spec?.engines?.mortise ? ` (it needs Mortise ${spec.engines.mortise})` : ''}`;
  const recommended = ext.status?.recommendedVersion;
  throw new CliError(`${name} ${requested} ${why}`, [
    offered,
    ...(recommended ? [`the recommended version is ${recommended}`] : []),
    'add --force to use it anyway',
  ]);
}

/** An extension's configuration from a JSON or YAML file: an object (an empty file is `{}`). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read the configuration file ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    // YAML 1.2 reads JSON as it is.
    value = parseYaml(text);
  } catch (e) {
    throw new CliError(`${file} is neither JSON nor YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError(`${file} must hold an object (the extension's settings, e.g. {"greeting": "Hi"}), not ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JSON merge patch (RFC 7396) that turns `from` into `to`: keys `to` lacks are set to null
 * (removed), objects are patched key by key, anything else is replaced. Undefined when equal.
 */
export function mergePatchBetween(from: unknown, to: unknown): unknown {
  if (JSON.stringify(from) === JSON.stringify(to)) return undefined;
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const change = key in from ? mergePatchBetween(from[key], value) : value;
    if (change !== undefined) patch[key] = change;
  }
  return patch;
}

/** How a wait ended: the plan's verdict, with the plan as last read (undefined: gone). */
export type Verdict = { ok: true } | { ok: false; message: string };

export interface PlanOutcome {
  plan: InstallPlan | undefined;
  verdict: Verdict;
}

/** Decides from the plan as read whether the wait is over; undefined: not yet. */
export type Judge = (plan: InstallPlan | undefined) => Verdict | undefined;

/**
 * Done with a spec the core has seen (`status.observedGeneration` at least `generation`):
 * `Installed` or `Disabled` succeed (at `version`, when given); `InstallFailed` and
 * `UpgradeFailed` fail with the plan's message, and so does a configuration the installer
 * refused (it keeps the running backend on its previous configuration and says so).
 * An `Installed` plan whose backend is not ready yet is still waited for.
 */
export function settled(generation: number, version?: string): Judge {
  return (plan) => {
    if (!plan) return { ok: false, message: 'the InstallPlan was deleted (uninstalled) meanwhile' };
    const s = plan.status ?? {};
    if ((s.observedGeneration ?? 0) < generation) return undefined;
    if (s.state && failedStates.includes(s.state)) return { ok: false, message: s.message || s.state };
    if (!s.state || !restingStates.includes(s.state)) return undefined;
    if (version && s.installedVersion !== version) return undefined;
    const refused = refusedConfig(plan);
    if (refused) return { ok: false, message: refused };
    if (s.state === 'Installed' && condition(s.conditions, 'BackendReady')?.status === 'False') return undefined;
    return { ok: true };
  };
}

/** The installer's reason when it refused the plan's current configuration. */
export function refusedConfig(plan: InstallPlan): string | undefined {
  const valid = condition(plan.status?.conditions, 'ConfigValid');
  // The condition stays False after the configuration is fixed; the message says whether it is news.
  if (valid?.status === 'False' && valid.message && plan.status?.message?.startsWith(valid.message)) return valid.message;
  return undefined;
}

/**
 * After a retry annotation stamped `stamp`: done once the installer has taken it up
 * (`status.retriedAt`) and reached a resting or failed state.
 */
export function retried(stamp: string): Judge {
  return (plan) => {
    if (!plan) return { ok: false, message: 'the InstallPlan was deleted (uninstalled) meanwhile' };
    const s = plan.status ?? {};
    if (s.retriedAt !== stamp) return undefined;
    if (s.state && failedStates.includes(s.state)) return { ok: false, message: s.message || s.state };
    if (s.state && restingStates.includes(s.state)) return { ok: true };
    return undefined;
  };
}

/**
 * Done when the plan is gone; fails on an `UninstallFailed` that is news — one entered after
 * `before` (the plan as it was when the uninstall was asked for), judged by its history, so a
 * failure left from an earlier attempt is not taken for this one's.
 */
export function gone(before: InstallPlan): Judge {
  const lastBefore = JSON.stringify(lastHistory(before) ?? null);
  return (plan) => {
    if (!plan) return { ok: true };
    if (plan.status?.state !== 'UninstallFailed') return undefined;
    if (before.status?.state === 'UninstallFailed' && JSON.stringify(lastHistory(plan) ?? null) === lastBefore) return undefined;
    return { ok: false, message: plan.status.message || 'the uninstall failed' };
  };
}

const lastHistory = (plan: InstallPlan): PlanHistoryEntry | undefined => plan.status?.history?.at(-1);

export interface PlanWaitOptions {
  name: string;
  /**
   * The plan as the change left it (the core's answer to it): the first watch starts at its
   * resourceVersion, so every state the installer goes through after the change is seen.
   */
  from?: InstallPlan;
  judge: Judge;
  timeoutMs: number;
  display: PlanProgress;
  /** What goes on, for the timeout and Ctrl-C messages: "installing hello-world 0.1.0". */
  what: string;
}

/** How long one watch request stays open before the plan is read afresh and watched again. */
const watchWindowSeconds = 30;
const pollMs = 300;

/**
 * Waits until `judge` decides, showing the plan's progress. Watches the plan (`?watch=1` with
 * a field selector) from the resourceVersion of the change, so no state is missed; whenever a
 * watch ends (every 30 s, or a 410 Gone) it reads the plan afresh and watches from there.
 * Polls every 300 ms where watching is refused, or with MORTISE_NO_WATCH=1 (for proxies that
 * hold streamed answers back). The timeout ends only the wait: the operation goes on in the core.
 */
export async function waitForPlan(client: CoreClient, options: PlanWaitOptions): Promise<PlanOutcome> {
  const { name, display } = options;
  display.onInterrupt(`interrupted: ${options.what} goes on in the core; follow it with \`mortise extension status ${name}\``);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
  let watching = !process.env.MORTISE_NO_WATCH || process.env.MORTISE_NO_WATCH === '0';
  let last: InstallPlan | undefined;
  const look = (plan: InstallPlan | undefined): PlanOutcome | undefined => {
    last = plan;
    display.update(plan);
    const verdict = options.judge(plan);
    return verdict ? { plan, verdict } : undefined;
  };
  const waited = options.timeoutMs < 1000 ? `${options.timeoutMs}ms` : formatDuration(options.timeoutMs);
  const timedOut = () => new CliError(`gave up waiting after ${waited}: ${options.what} goes on in the core`, [
    ...(last ? [`now: ${last.status?.state ?? 'Pending'}${last.status?.message ? ` (${last.status.message})` : ''}`] : []),
    `follow it with \`mortise extension status ${name}\`; wait longer with --timeout`,
  ]);
  let start = options.from?.metadata.resourceVersion ? { plan: options.from, resourceVersion: options.from.metadata.resourceVersion } : undefined;
  try {
    for (;;) {
      const { plan, resourceVersion } = start ?? await readPlan(client, name);
      start = undefined;
      const done = look(plan);
      if (done) return done;
      if (deadline.signal.aborted) throw timedOut();
      if (!watching) {
        await sleep(pollMs, deadline.signal);
        continue;
      }
      try {
        const events = client.watch<InstallPlan>(installPlansPath(), {
          fieldSelector: `metadata.name=${name}`, resourceVersion, timeoutSeconds: String(watchWindowSeconds),
        }, deadline.signal);
        for await (const event of events) {
          // ERROR is a 410 Gone (the version is too old to replay): read afresh, watch from there.
          if (event.type === 'ERROR') break;
          if (event.type === 'BOOKMARK') continue;
          const settledNow = look(event.type === 'DELETED' ? undefined : event.object);
          if (settledNow) return settledNow;
        }
      } catch (e) {
        if (deadline.signal.aborted) throw timedOut();
        // A core (or a role) that does not allow watching: poll instead.
        if (e instanceof ApiStatusError && [400, 403, 405, 406, 501].includes(e.httpStatus)) watching = false;
        else if (e instanceof ApiStatusError) throw e;
        // A stream that broke off: read afresh and watch again, without hammering the core.
        else await sleep(pollMs, deadline.signal);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The plan (or undefined) and the resourceVersion to watch from. */
async function readPlan(client: CoreClient, name: string): Promise<{ plan: InstallPlan | undefined; resourceVersion: string | undefined }> {
  const list = await client.get<List<InstallPlan>>(installPlansPath(), { fieldSelector: `metadata.name=${name}` });
  const plan = list.items?.find((p) => p.metadata.name === name);
  return { plan, resourceVersion: list.metadata?.resourceVersion };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** An InstallPlan as `extension status -o json` (and the other commands' `-o json`) print it. */
export interface PlanView {
  name: string;
  state: string;
  /** The version running (none before the first install finishes). */
  version: string | null;
  /** The version the plan asks for. */
  targetVersion: string;
  enabled: boolean;
  message: string | null;
  progress: StepProgress | null;
  config: Record<string, unknown>;
  purgeOnUninstall: boolean;
  uninstalling: boolean;
  conditions: Condition[];
  history: PlanHistoryEntry[];
}

export function planView(plan: InstallPlan): PlanView {
  const s = plan.status ?? {};
  return {
    name: plan.metadata.name,
    state: s.state ?? 'Pending',
    version: s.installedVersion ?? null,
    targetVersion: plan.spec.extension.version,
    enabled: plan.spec.enabled !== false,
    message: s.message ?? null,
    progress: s.progress ?? null,
    config: plan.spec.config ?? {},
    purgeOnUninstall: plan.spec.purgeOnUninstall === true,
    uninstalling: !!plan.metadata.deletionTimestamp,
    conditions: s.conditions ?? [],
    history: s.history ?? [],
  };
}
