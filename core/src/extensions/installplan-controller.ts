import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Ajv } from 'ajv';
import semver from 'semver';
import { DEFAULT_HEALTH_PATH, runtimeEnvironment, sha256File, verifyDigestSignature, type ExtensionManifest } from '@mortise/extension-sdk';
import { ApiError } from '../api/status.js';
import { isPlainObject } from '../api/own-properties.js';
import { showValue } from '../api/plain-data.js';
import { parseYamlData } from '../api/yaml-data.js';
import { Controller } from '../controller/controller.js';
import { mergeConditions, type Condition } from '../controller/conditions.js';
import { ignoreNotFound } from '../controller/garbage-collector.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import { meaningfulTail } from '../runtime/log-lines.js';
import type { Runtime } from '../runtime/runtime.js';
import type { KubeObject, OwnerReference } from '../store/resource-store.js';
import type { TokenService } from '../auth/token-service.js';
import { extensionLabel, extensionsGroup } from '../schemas/extensions.js';
import { iamGroup } from '../schemas/iam.js';
import { accessObjects, routeObjects, routePlurals, serviceAccountPrefix, type DesiredObject, type ResourceContext } from './extension-resources.js';
import { ownedApi, roleTemplateObjects } from './extension-role-templates.js';
import { InstallError } from './install-error.js';
import { archiveFile, type PackageStore } from './package-store.js';
import { DEFAULT_PACKAGE_CACHE_MAX_BYTES, keptVersions, neededArchives, planPackages } from './package-retention.js';
import { resolveVersionSource, type VersionSource } from './version-source.js';

export const uninstallFinalizer = 'extensions.mortise.io/uninstall';
/** Set to a timestamp to retry a failed install or upgrade. */
export const retryAnnotation = 'extensions.mortise.io/retry-at';
/** Set to "true" to let an uninstall finish even if its steps fail. */
export const forceUninstallAnnotation = 'extensions.mortise.io/force-uninstall';

type State = 'Pending' | 'Downloading' | 'Installing' | 'Installed' | 'InstallFailed' | 'Upgrading' | 'UpgradeFailed' | 'Disabled' | 'Uninstalling' | 'UninstallFailed';

interface PlanSpec { extension: { name: string; version: string }; enabled?: boolean; config?: Record<string, unknown>; purgeOnUninstall?: boolean }
interface PlanStatus {
  state?: State; installedVersion?: string; targetVersion?: string; previousVersion?: string; message?: string; observedGeneration?: number;
  progress?: { step: string; completed: number; total: number };
  conditions?: Condition[];
  history?: Array<{ time: string; state: string; version?: string; message?: string }>;
  retriedAt?: string;
  /** What the installed version serves without a login. */
  webhooks?: Array<{ path: string; description: string }>;
  childProcesses?: boolean;
  /** The ports the backend listens on besides its own (the manifest's `backend.listeners`). */
  listeners?: Array<{ name: string; description: string; port?: number }>;
}

export interface InstallerDeps {
  service: ResourceService;
  kinds: KindRegistry;
  runtime: Runtime;
  packages: PackageStore;
  tokens: TokenService;
  coreVersion: string;
  coreUrl: () => string;
  issuer: () => string;
  /** The platform modules directory backends may read (the SDK and its dependencies). */
  /** Where the platform modules are, once staged (the first install may wait for them). */
  platformModules: () => Promise<string>;
  logger: Logger;
  /** How long a backend may take to become ready. */
  readyTimeoutMs?: number;
  /** The cap on cached archives (package-retention.ts); default 1 GiB. */
  packageCacheMaxBytes?: number;
}

const backendId = (name: string, version: string) => `${name}@${version}`;
const installSteps = ['resolve', 'download', 'unpack', 'check', 'resources', 'backend', 'routes'];

/**
 * The InstallPlan state machine: Pending → Downloading → Installing → Installed (or
 * InstallFailed); Upgrading → Installed (or UpgradeFailed, the old version still serving);
 * Disabled; Uninstalling. Every step is idempotent, so a core killed at any point converges
 * when it reconciles the plan again; failed states wait for a spec change or a retry
 * annotation; deletion always ends (force-uninstall skips failing steps).
 */
export class InstallPlanController extends Controller {
  private readonly planDef: KindDefinition;
  private readonly ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });

  constructor(private readonly d: InstallerDeps) {
    super({ name: 'installplan', logger: d.logger, resyncMs: 30_000, baseDelayMs: 1000, maxDelayMs: 60_000 });
    this.planDef = d.kinds.byGroupResource(extensionsGroup, 'installplans')!;
  }

  /** At start, before any plan is reconciled: what a killed core left on disk goes. */
  override async start(): Promise<void> {
    await this.tidyPackages();
    return super.start();
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w = this.d.service.store.watch(this.d.service.ref(this.planDef), {}, (e) => {
      const before = e.previous;
      // Our own status writes leave generation and annotations alone: no loop.
      if (e.type === 'MODIFIED' && before && before.metadata.generation === e.object.metadata.generation
        && JSON.stringify(before.metadata.annotations ?? {}) === JSON.stringify(e.object.metadata.annotations ?? {})
        && before.metadata.deletionTimestamp === e.object.metadata.deletionTimestamp) return;
      enqueue(e.name);
    });
    // A backend that changes health changes what the plan reports.
    const onStatus = (s: { id: string }) => enqueue(s.id.split('@')[0]!);
    this.d.runtime.on('status', onStatus);
    return () => {
      w.stop();
      this.d.runtime.off('status', onStatus);
    };
  }

  protected async listKeys(): Promise<string[]> {
    return (await this.d.service.store.list(this.d.service.ref(this.planDef))).items.map((p) => p.metadata.name!);
  }

  protected async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const plan = await this.d.service.getStored(this.planDef, '', name);
    if (!plan) {
      // The plan is gone (deleted without us): nothing of it may keep running.
      for (const s of this.d.runtime.list()) if (s.id.startsWith(`${name}@`)) await this.d.runtime.stop(s.id);
      return;
    }
    if (plan.metadata.deletionTimestamp) return this.uninstall(plan);
    if (!(plan.metadata.finalizers ?? []).includes(uninstallFinalizer)) {
      // Uninstall must run before the plan can go: hold it with a finalizer, then carry on.
      const held = await this.d.service.patch(this.planDef, '', name, 'merge', { metadata: { finalizers: [...(plan.metadata.finalizers ?? []), uninstallFinalizer] } }, {});
      plan.metadata = held.object.metadata;
    }
    const spec = plan.spec as PlanSpec;
    const status = (plan.status ?? {}) as PlanStatus;
    const target = spec.extension.version;
    const failed = status.state === 'InstallFailed' || status.state === 'UpgradeFailed';
    const retry = plan.metadata.annotations?.[retryAnnotation];
    if (failed && status.targetVersion === target && status.observedGeneration === plan.metadata.generation && (!retry || retry === status.retriedAt)) {
      return; // waiting for a change, a retry, or an uninstall
    }
    if (status.installedVersion !== target) return this.install(plan, spec, status, retry);
    return this.steady(plan, spec, status);
  }

  /** Installs or upgrades to spec.extension.version. */
  private async install(plan: KubeObject, spec: PlanSpec, status: PlanStatus, retry: string | undefined): Promise<void> {
    const name = plan.metadata.name!;
    const version = spec.extension.version;
    const upgrading = !!status.installedVersion;
    const inProgress: State = upgrading ? 'Upgrading' : 'Downloading';
    await this.setStatus(plan, { state: inProgress, targetVersion: version, message: `${upgrading ? 'upgrading to' : 'installing'} ${name} ${version}`, retriedAt: retry });
    const newId = backendId(name, version);
    try {
      await this.progress(plan, 'resolve');
      const source = await this.resolve(name, version);
      const { entry, trustedKeys } = source;
      await this.progress(plan, 'download');
      const archive = await this.d.packages.download(source);
      // Checked again right before unpacking: the archive on disk may not be what was fetched.
      if (trustedKeys?.length) {
        const digest = await sha256File(archive);
        if (!entry.signature || !verifyDigestSignature(digest, entry.signature, trustedKeys)) {
          throw new InstallError(`the package of ${name} ${version} is not signed by a key the repository trusts`);
        }
      }
      if (!upgrading) await this.setStatus(plan, { state: 'Installing', message: `unpacking ${name} ${version}` });
      await this.progress(plan, 'unpack');
      const { dir, manifest } = await this.d.packages.unpack(name, version, entry.digest);
      await this.progress(plan, 'check');
      const config = await this.check(manifest, spec, name, version);
      await this.progress(plan, 'resources');
      const owner = this.owner(plan);
      const crds = this.readCrds(manifest, dir, owner);
      // Checked before anything is applied: a template granting what is not the extension's refuses the install.
      const templates = roleTemplateObjects(manifest, owner, ownedApi(manifest, crds.map((c) => c.object)));
      await this.apply(crds);
      const access = [...accessObjects({ manifest, owner, enabled: spec.enabled !== false }), ...templates];
      await this.apply(access);
      await this.pruneRoleTemplates(name, access);
      await this.progress(plan, 'backend');
      let backendUrl: string | undefined;
      if (manifest.backend?.entry && spec.enabled !== false) {
        backendUrl = await this.startBackend(manifest, dir, config);
      }
      await this.progress(plan, 'routes');
      await this.switchRoutes({ manifest, owner, enabled: spec.enabled !== false, backendUrl });
      // Only now the old version stops: it served until the new one was ready.
      if (upgrading && status.installedVersion) await this.d.runtime.stop(backendId(name, status.installedVersion));
      const state: State = spec.enabled === false ? 'Disabled' : 'Installed';
      const previousVersion = upgrading && status.installedVersion !== version ? status.installedVersion : status.previousVersion;
      await this.setStatus(plan, {
        state, installedVersion: version, targetVersion: version, ...(previousVersion ? { previousVersion } : {}), message: `${name} ${version} ${upgrading ? 'upgraded' : 'installed'}${state === 'Disabled' ? ' (disabled)' : ''}`,
        observedGeneration: plan.metadata.generation, progress: { step: 'done', completed: installSteps.length, total: installSteps.length },
        webhooks: (manifest.webhooks ?? []).map((h) => ({ path: h.path, description: h.description })),
        childProcesses: manifest.backend?.childProcesses === true,
        listeners: this.listenersOf(manifest),
      }, [{ type: 'Installed', status: 'True', reason: upgrading ? 'Upgraded' : 'Installed' }, { type: 'Enabled', status: spec.enabled === false ? 'False' : 'True', reason: spec.enabled === false ? 'Disabled' : 'Enabled' }]);
      this.logger.info({ event: upgrading ? 'extension.upgraded' : 'extension.installed', extension: name, version }, `${name} ${version} ready`);
    } catch (e) {
      const message = e instanceof InstallError || e instanceof ApiError ? e.message : `${(e as Error).message}`;
      // Roll back what the new version started; the old one (if any) keeps serving.
      if (!upgrading || status.installedVersion !== version) await this.d.runtime.stop(newId).catch(() => undefined);
      if (!upgrading) await this.removeRoutes(name);
      await this.setStatus(plan, {
        state: upgrading ? 'UpgradeFailed' : 'InstallFailed', targetVersion: version, observedGeneration: plan.metadata.generation,
        message: `${upgrading ? `upgrade to ${version} failed, ${status.installedVersion} still serving` : `installing ${version} failed`}: ${message}`,
      }, [{ type: 'Installed', status: upgrading ? 'True' : 'False', reason: upgrading ? 'UpgradeFailed' : 'InstallFailed', message }]);
      this.logger.warn({ event: 'extension.install-failed', extension: name, version, err: message }, 'install failed');
    }
    // Succeeded or failed: versions no longer kept, and whatever a failed step left, go.
    await this.tidyPackages();
  }

  /**
   * Applies the retention rule (package-retention.ts): reclaims temporary archives and staging
   * directories no step in progress owns, prunes unpacked versions no plan keeps, and caps the
   * archive cache. Never fails a reconcile: what it cannot remove now it removes next time.
   */
  private async tidyPackages(): Promise<void> {
    try {
      const plans = (await this.d.service.store.list(this.d.service.ref(this.planDef))).items.map(planPackages);
      const reclaimed = this.d.packages.reclaimLeftovers();
      const pruned: string[] = [];
      const byName = new Map(plans.map((p) => [p.name, p]));
      for (const name of this.d.packages.unpackedNames()) {
        const plan = byName.get(name);
        const keep = new Set(plan ? keptVersions(plan).keys() : []);
        pruned.push(...this.d.packages.pruneUnpacked(name, keep).map((v) => `${name}@${v}`));
      }
      const evicted = this.d.packages.limitArchives(this.d.packageCacheMaxBytes ?? DEFAULT_PACKAGE_CACHE_MAX_BYTES, new Set(neededArchives(plans, archiveFile).keys()));
      if (reclaimed.length || pruned.length || evicted.length) {
        this.logger.info({ event: 'extension.packages-tidied', reclaimed, pruned, evicted }, 'removed package files no plan needs');
      }
    } catch (e) {
      this.logger.warn({ event: 'extension.packages-tidy-failed', err: (e as Error).message }, 'tidying package files failed');
    }
  }

  /** Installed: keep the backend running (or stopped when disabled) and routes matching `enabled`. */
  private async steady(plan: KubeObject, spec: PlanSpec, status: PlanStatus): Promise<{ requeueAfterMs?: number } | void> {
    const name = plan.metadata.name!;
    const version = status.installedVersion!;
    const enabled = spec.enabled !== false;
    const { manifest, dir } = await this.d.packages.unpack(name, version, (await this.resolve(name, version).catch(() => undefined))?.entry.digest ?? this.currentDigest(name, version));
    const owner = this.owner(plan);
    let backendUrl: string | undefined;
    const id = backendId(name, version);
    if (enabled) {
      let config: Record<string, unknown>;
      try {
        config = await this.check(manifest, spec, name, version);
      } catch (e) {
        // A bad change of config leaves the running backend as it was.
        const message = `${(e as Error).message}; ${name} keeps running with its previous configuration`;
        if (status.message !== message) await this.setStatus(plan, { message, observedGeneration: plan.metadata.generation }, [{ type: 'ConfigValid', status: 'False', reason: 'Invalid', message: (e as Error).message }]);
        return;
      }
      if (manifest.backend?.entry) {
        // Idempotent: a running (or restarting) backend with the same spec is left to the runtime
        // (the gateway answers 503 meanwhile); a changed config restarts it.
        backendUrl = await this.ensureBackend(manifest, dir, config);
      }
      // While a backend restarts it has no address yet: the routes keep the last one.
      if (backendUrl || !manifest.backend?.entry) await this.switchRoutes({ manifest, owner, enabled: true, backendUrl });
    } else {
      // Disable: routes and UI off at once, then the backend stops.
      backendUrl = this.d.runtime.status(id)?.url;
      await this.switchRoutes({ manifest, owner, enabled: false, backendUrl: backendUrl ?? 'http://127.0.0.1:9' });
      await this.d.runtime.stop(id);
    }
    const backend = this.d.runtime.status(id);
    const healthy = !manifest.backend?.entry || !enabled || backend?.state === 'Ready';
    const state: State = enabled ? 'Installed' : 'Disabled';
    const listeners = this.listenersOf(manifest);
    const listenersChanged = JSON.stringify(listeners) !== JSON.stringify(status.listeners ?? []);
    const message = !healthy ? `the backend is ${backend?.state ?? 'not running'}${backend?.message ? `: ${backend.message}` : ''}` : enabled ? `${name} ${version} is serving` : `${name} ${version} is disabled`;
    if (status.state !== state || status.message !== message || status.observedGeneration !== plan.metadata.generation || listenersChanged) {
      await this.setStatus(plan, { state, message, observedGeneration: plan.metadata.generation, listeners }, [
        { type: 'Enabled', status: enabled ? 'True' : 'False', reason: enabled ? 'Enabled' : 'Disabled' },
        { type: 'BackendReady', status: healthy ? 'True' : 'False', reason: healthy ? 'Ready' : backend?.state ?? 'NotRunning', message: backend?.message ?? '' },
        ...(enabled ? [{ type: 'ConfigValid', status: 'True', reason: 'Valid' }] : []),
      ]);
    }
    return healthy ? undefined : { requeueAfterMs: 2000 };
  }

  /** The declared listeners with the ports the running backend got. */
  private listenersOf(manifest: ExtensionManifest): NonNullable<PlanStatus['listeners']> {
    const ports = this.d.runtime.status(backendId(manifest.name, manifest.version))?.listeners ?? {};
    return (manifest.backend?.listeners ?? []).map((l) => ({ name: l.name, description: l.description, ...(ports[l.name] ? { port: ports[l.name] } : {}) }));
  }

  private async uninstall(plan: KubeObject): Promise<void> {
    const name = plan.metadata.name!;
    const spec = plan.spec as PlanSpec;
    const force = plan.metadata.annotations?.[forceUninstallAnnotation] === 'true';
    const status = (plan.status ?? {}) as PlanStatus;
    if (status.state !== 'Uninstalling') await this.setStatus(plan, { state: 'Uninstalling', message: `uninstalling ${name}` }).catch(() => undefined);
    try {
      for (const s of this.d.runtime.list()) if (s.id.startsWith(`${name}@`)) await this.d.runtime.stop(s.id);
      await this.removeRoutes(name);
      for (const [group, plural] of [[iamGroup, 'roletemplates'], [iamGroup, 'globalrolebindings'], [iamGroup, 'globalroles'], [iamGroup, 'users'], ['apiextensions.k8s.io', 'customresourcedefinitions']] as const) {
        await this.deleteLabelled(group, plural, name);
      }
      this.d.packages.removeAll(name, spec.purgeOnUninstall === true);
      await this.tidyPackages();
    } catch (e) {
      if (!force) {
        await this.setStatus(plan, { state: 'UninstallFailed', message: `uninstall failed: ${(e as Error).message} (set the annotation ${forceUninstallAnnotation}=true to finish anyway)` }).catch(() => undefined);
        throw e;
      }
    }
    const rest = (plan.metadata.finalizers ?? []).filter((f) => f !== uninstallFinalizer);
    await this.d.service.patch(this.planDef, '', name, 'merge', { metadata: { finalizers: rest.length ? rest : null } }, {}).catch(ignoreNotFound);
    this.logger.info({ event: 'extension.uninstalled', extension: name }, `${name} uninstalled`);
  }

  /** The ExtensionVersion to install and where its repository is. */
  private resolve(name: string, version: string): Promise<VersionSource> {
    return resolveVersionSource(this.d.service, this.d.kinds, name, version);
  }

  private currentDigest(name: string, version: string): string {
    try {
      return readFileSync(join(this.d.packages.unpackedDir(name, version), '.mortise-unpacked'), 'utf8').trim();
    } catch {
      throw new InstallError(`the package of ${name} ${version} is gone and its version is no longer offered`);
    }
  }

  /** Manifest identity, core compatibility, dependencies and config. Returns the config with defaults. */
  private async check(manifest: ExtensionManifest, spec: PlanSpec, name: string, version: string): Promise<Record<string, unknown>> {
    if (manifest.name !== name || manifest.version !== version) {
      throw new InstallError(`the package says it is ${manifest.name} ${manifest.version}, not ${name} ${version}`);
    }
    if (!semver.satisfies(this.d.coreVersion, manifest.engines.mortise, { includePrerelease: true })) {
      throw new InstallError(`${name} ${version} needs a Mortise core ${manifest.engines.mortise}; this core is ${this.d.coreVersion}`);
    }
    for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
      const p = await this.d.service.getStored(this.planDef, '', dep);
      const installed = (p?.status as PlanStatus | undefined)?.installedVersion;
      if (!installed) throw new InstallError(`${name} depends on ${dep} ${range}, which is not installed`);
      if (!semver.satisfies(installed, range, { includePrerelease: true })) throw new InstallError(`${name} depends on ${dep} ${range}, but ${dep} ${installed} is installed`);
    }
    const config = structuredClone({ ...(manifest.config ?? {}), ...(spec.config ?? {}) }) as Record<string, unknown>;
    if (manifest.configSchema) {
      const validate = this.ajv.compile(manifest.configSchema);
      if (!validate(config)) {
        throw new InstallError(`spec.config is invalid: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}`);
      }
    }
    return config;
  }

  private readonly serviceTokens = new Map<string, { token: string; expiresAt: number }>();

  /** The service account's token, reused while valid so the backend's spec stays the same. */
  private async serviceToken(extension: string): Promise<string> {
    const cached = this.serviceTokens.get(extension);
    if (cached && cached.expiresAt - Date.now() > 24 * 3600_000) return cached.token;
    const ttl = 30 * 24 * 3600;
    const token = await this.d.tokens.sign({ sub: `${serviceAccountPrefix}${extension}`, token_use: 'access' }, 'mortise-extension', ttl);
    this.serviceTokens.set(extension, { token, expiresAt: Date.now() + ttl * 1000 });
    return token;
  }

  /** Starts the backend if it is not running with this spec; waits only for a fresh start. */
  private async ensureBackend(manifest: ExtensionManifest, dir: string, config: Record<string, unknown>): Promise<string | undefined> {
    const id = backendId(manifest.name, manifest.version);
    const healthPath = manifest.backend!.healthPath ?? DEFAULT_HEALTH_PATH;
    const status = await this.d.runtime.start({
      id, extension: manifest.name, version: manifest.version, entry: join(dir, manifest.backend!.entry!), packageDir: dir, readOnlyPaths: [await this.d.platformModules()],
      dataDir: this.d.packages.dataDir(manifest.name), healthPath,
      nativeAddons: manifest.backend!.nativeAddons === true,
      allowChildProcesses: manifest.backend!.childProcesses === true,
      ...(manifest.backend!.listeners?.length ? { listeners: manifest.backend!.listeners.map((l) => l.name) } : {}),
      env: {
        ...(manifest.backend!.env ?? {}),
        ...runtimeEnvironment({
          extension: manifest.name, version: manifest.version, coreUrl: this.d.coreUrl(), issuer: this.d.issuer(),
          token: await this.serviceToken(manifest.name), config: JSON.stringify(config), healthPath,
        }),
      },
    });
    if (status.state !== 'Starting') return status.url;
    return this.waitBackend(id);
  }

  private async startBackend(manifest: ExtensionManifest, dir: string, config: Record<string, unknown>): Promise<string> {
    await this.ensureBackend(manifest, dir, config);
    return this.waitBackend(backendId(manifest.name, manifest.version));
  }

  private async waitBackend(id: string): Promise<string> {
    try {
      const s = await this.d.runtime.waitReady(id, this.d.readyTimeoutMs ?? 60_000);
      return s.url!;
    } catch (e) {
      const logs = meaningfulTail(this.d.runtime.logs(id, 60).map((l) => l.line), 5).join(' | ');
      throw new InstallError(`the backend did not become ready: ${(e as Error).message}${logs ? ` (last output: ${logs})` : ''}`);
    }
  }

  private readCrds(manifest: ExtensionManifest, dir: string, owner: OwnerReference): DesiredObject[] {
    const objects: DesiredObject[] = [];
    for (const file of manifest.resources ?? []) {
      let docs: unknown[];
      try {
        // The package is untrusted input: plain JSON-compatible YAML only, nothing printed.
        docs = parseYamlData(readFileSync(join(dir, file), 'utf8'));
      } catch (e) {
        throw new InstallError(`${file}: ${(e as Error).message}`);
      }
      for (const doc of docs) {
        if (doc === null) continue;
        if (!isPlainObject(doc) || doc.kind !== 'CustomResourceDefinition') throw new InstallError(`${file} holds a ${showValue(isPlainObject(doc) ? doc.kind : doc)}; only CustomResourceDefinitions may be brought by an extension`);
        const crd = doc as unknown as KubeObject;
        crd.metadata = { ...crd.metadata, labels: { ...(crd.metadata?.labels ?? {}), [extensionLabel]: manifest.name }, ownerReferences: [owner] };
        objects.push({ group: 'apiextensions.k8s.io', plural: 'customresourcedefinitions', object: crd });
      }
    }
    return objects;
  }

  /** RoleTemplates of the extension that the installed version no longer brings (after an upgrade) go away. */
  private async pruneRoleTemplates(name: string, desired: DesiredObject[]) {
    const keep = new Set(desired.filter((o) => o.plural === 'roletemplates').map((o) => o.object.metadata.name));
    const def = this.d.kinds.byGroupResource(iamGroup, 'roletemplates')!;
    const { items } = await this.d.service.list(def, '', { labelSelector: `${extensionLabel}=${name}` });
    for (const o of items) if (!keep.has(o.metadata.name)) await this.d.service.delete(def, '', o.metadata.name!).catch(ignoreNotFound);
  }

  private async switchRoutes(ctx: ResourceContext) {
    const desired = routeObjects(ctx);
    await this.apply(desired);
    // Routes the manifest no longer declares (after an upgrade) go away.
    const keep = new Set(desired.map((o) => `${o.plural}/${o.object.metadata.name}`));
    for (const plural of routePlurals) {
      const def = this.d.kinds.byGroupResource(extensionsGroup, plural)!;
      const { items } = await this.d.service.list(def, '', { labelSelector: `${extensionLabel}=${ctx.manifest.name}` });
      for (const o of items) if (!keep.has(`${plural}/${o.metadata.name}`)) await this.d.service.delete(def, '', o.metadata.name!).catch(ignoreNotFound);
    }
  }

  private async removeRoutes(name: string) {
    for (const plural of routePlurals) await this.deleteLabelled(extensionsGroup, plural, name);
  }

  private async deleteLabelled(group: string, plural: string, extension: string) {
    const def = this.d.kinds.byGroupResource(group, plural);
    if (!def) return;
    const { items } = await this.d.service.list(def, '', { labelSelector: `${extensionLabel}=${extension}` });
    for (const o of items) await this.d.service.delete(def, o.metadata.namespace ?? '', o.metadata.name!).catch(ignoreNotFound);
  }

  /** Creates or updates each object (as the core itself: no escalation checks). */
  private async apply(objects: DesiredObject[]) {
    for (const { group, plural, object } of objects) {
      const def = this.d.kinds.byGroupResource(group, plural);
      if (!def) throw new InstallError(`the core does not serve ${plural}.${group}`);
      const ns = object.metadata.namespace ?? '';
      const existing = await this.d.service.getStored(def, ns, object.metadata.name!);
      if (!existing) {
        await this.d.service.create(def, ns, object, {});
        continue;
      }
      const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...wanted } = object;
      const { metadata: _m2, status: _s2, apiVersion: _a2, kind: _k2, ...have } = this.d.service.external(def, existing);
      const labelsSame = JSON.stringify(existing.metadata.labels ?? {}) === JSON.stringify({ ...(existing.metadata.labels ?? {}), ...(object.metadata.labels ?? {}) });
      if (JSON.stringify(wanted) === JSON.stringify(have) && labelsSame) continue;
      await this.d.service.update(def, ns, object.metadata.name!, {
        ...existing, ...wanted, metadata: { ...existing.metadata, labels: { ...(existing.metadata.labels ?? {}), ...(object.metadata.labels ?? {}) }, ownerReferences: object.metadata.ownerReferences },
      }, {});
    }
  }

  private owner(plan: KubeObject): OwnerReference {
    return { apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'InstallPlan', name: plan.metadata.name!, uid: plan.metadata.uid!, controller: true, blockOwnerDeletion: true };
  }

  private async progress(plan: KubeObject, step: string) {
    const i = installSteps.indexOf(step);
    await this.d.service.patch(this.planDef, '', plan.metadata.name!, 'merge', { status: { progress: { step, completed: i, total: installSteps.length } } }, {}, { subresource: 'status' }).catch(ignoreNotFound);
  }

  private async setStatus(plan: KubeObject, fields: PlanStatus, conditions: Array<{ type: string; status: string; reason: string; message?: string }> = []) {
    const current = await this.d.service.getStored(this.planDef, '', plan.metadata.name!);
    if (!current) return;
    const status = (current.status ?? {}) as PlanStatus;
    const now = new Date().toISOString();
    const merged = mergeConditions(status.conditions, conditions, now);
    const history = [...(status.history ?? [])];
    if (fields.state && fields.state !== status.state) history.push({ time: now, state: fields.state, version: fields.targetVersion ?? status.targetVersion, message: fields.message ?? '' });
    // Unset fields are left out: a patch is JSON data, where undefined has no place.
    const set = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    await this.d.service.patch(this.planDef, '', plan.metadata.name!, 'merge', {
      status: { ...set, conditions: merged, history: history.slice(-20) },
    }, {}, { subresource: 'status' }).catch(ignoreNotFound);
  }
}
