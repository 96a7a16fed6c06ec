import { loadRemote, registerRemotes } from '@module-federation/enhanced/runtime';
import type { ApiClient, ConsoleExtension, KubeObject } from '@mortise/extension-sdk/console';

// The console's extension registry: which extensions are enabled (a watch on JSBundles), and
// for each one whether its module is pending, loaded or failed (with the reason), as in
// OpenShift's plugin store. A failed load is retried with backoff, never left failed for good.

export type ExtensionState = 'pending' | 'loaded' | 'failed';

export interface ConsoleExtensionEntry {
  /** The extension's name (the JSBundle's). */
  name: string;
  remoteName: string;
  /** URL of its remoteEntry.js (carries the installed version). */
  entry: string;
  exposedModule: string;
  state: ExtensionState;
  error?: string;
  module?: ConsoleExtension;
  /** When the next automatic retry of a failed load happens (ms since epoch). */
  retryAt?: number;
  attempts: number;
}

interface JSBundle extends KubeObject {
  spec: { remoteName?: string; remoteEntry: string; exposedModule?: string; enabled?: boolean };
}

const jsbundles = { group: 'extensions.mortise.io', version: 'v1alpha1', resource: 'jsbundles' };
const maxBackoffMs = 60_000;
export const backoffMs = (attempts: number) => Math.min(maxBackoffMs, 1000 * 2 ** Math.max(0, attempts - 1));

export class ExtensionRegistry {
  private entries = new Map<string, ConsoleExtensionEntry>();
  private snapshot: ConsoleExtensionEntry[] = [];
  private listeners = new Set<() => void>();
  private timers = new Map<string, ReturnType<typeof setTimeout>>();
  private abort?: AbortController;
  /** Called once per loaded module (locales go into i18n). */
  onLoaded?: (entry: ConsoleExtensionEntry) => void;

  constructor(private readonly api: ApiClient) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): ConsoleExtensionEntry[] => this.snapshot;

  get(name: string): ConsoleExtensionEntry | undefined {
    return this.entries.get(name);
  }

  private changed(): void {
    this.snapshot = [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const l of this.listeners) l();
  }

  private update(name: string, patch: Partial<ConsoleExtensionEntry>): void {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.set(name, { ...e, ...patch });
    this.changed();
  }

  /** Lists the JSBundles, then follows their watch; re-lists whenever the stream ends. */
  start(): void {
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const loop = async () => {
      let failures = 0;
      while (!signal.aborted) {
        try {
          const list = await this.api.list<JSBundle>(jsbundles);
          this.reconcile(list.items);
          failures = 0;
          await this.api.watch<JSBundle>(jsbundles, list.metadata.resourceVersion, (ev) => {
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.apply(ev.object);
            else if (ev.type === 'DELETED') this.remove(ev.object.metadata.name!);
          }, signal);
        } catch {
          if (signal.aborted) return;
          failures += 1;
        }
        await new Promise((r) => setTimeout(r, failures ? backoffMs(failures) : 200));
      }
    };
    void loop();
  }

  stop(): void {
    this.abort?.abort();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private reconcile(items: JSBundle[]): void {
    const seen = new Set<string>();
    for (const b of items) {
      seen.add(b.metadata.name!);
      this.apply(b);
    }
    for (const name of [...this.entries.keys()]) if (!seen.has(name)) this.remove(name);
  }

  private apply(b: JSBundle): void {
    const name = b.metadata.name!;
    if (b.spec.enabled === false) return this.remove(name);
    const existing = this.entries.get(name);
    const remoteName = b.spec.remoteName ?? name.replace(/-/g, '_');
    const exposedModule = b.spec.exposedModule ?? './index';
    if (existing && existing.entry === b.spec.remoteEntry && existing.exposedModule === exposedModule && existing.remoteName === remoteName) return;
    this.entries.set(name, { name, remoteName, entry: b.spec.remoteEntry, exposedModule, state: 'pending', attempts: 0 });
    this.changed();
    void this.load(name);
  }

  private remove(name: string): void {
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
    if (this.entries.delete(name)) this.changed();
  }

  /** Loads (again) an extension's declarations: registers its remote at its current URL. */
  async load(name: string): Promise<void> {
    const e = this.entries.get(name);
    if (!e) return;
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
    if (e.state !== 'pending') this.update(name, { state: 'pending', error: undefined, retryAt: undefined });
    try {
      // force: a new version (or a retry) replaces what was registered under this name.
      registerRemotes([{ name: e.remoteName, entry: new URL(e.entry, location.origin).href }], { force: true });
      const mod = await loadRemote<{ default?: ConsoleExtension }>(`${e.remoteName}/${e.exposedModule.replace(/^\.\//, '')}`);
      const declared = mod?.default;
      if (!declared || typeof declared !== 'object') throw new Error(`its module ${e.exposedModule} has no default export declaring what it adds (defineConsoleExtension({...}))`);
      if (this.entries.get(name)?.entry !== e.entry) return; // replaced meanwhile
      this.update(name, { state: 'loaded', module: declared, attempts: 0 });
      this.onLoaded?.(this.entries.get(name)!);
    } catch (err) {
      const current = this.entries.get(name);
      if (!current || current.entry !== e.entry) return;
      const attempts = current.attempts + 1;
      const wait = backoffMs(attempts);
      this.update(name, { state: 'failed', error: describeLoadError(err, e), attempts, retryAt: Date.now() + wait });
      this.timers.set(name, setTimeout(() => void this.load(name), wait));
    }
  }
}

function describeLoadError(err: unknown, e: ConsoleExtensionEntry): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/RUNTIME-008|ScriptExternalLoadError|Loading script failed/i.test(message)) return `its remote entry ${e.entry} could not be loaded`;
  return message.split('\n')[0]!.slice(0, 300);
}
