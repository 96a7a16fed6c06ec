import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { runtimeEnvironment } from '@mortise/extension-sdk/runtime';
import { DEFAULT_HEALTH_PATH, type ExtensionManifest } from '@mortise/extension-sdk/manifest';
import { sha256File, verifyDigestSignature } from '@mortise/extension-sdk/package';
import { ApiError } from '../api/status.js';
import { Controller } from '../controller/controller.js';
import { ignoreNotFound } from '../controller/garbage-collector.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import { meaningfulTail } from '../runtime/log-lines.js';
import { backendKey, type BackendSpec, type Runtime } from '../runtime/runtime.js';
import type { KubeObject, OwnerReference } from '../store/resource-store.js';
import type { TokenService } from '../auth/token-service.js';
import { extensionLabel, extensionsGroup } from '../schemas/extensions.js';
import { iamGroup } from '../schemas/iam.js';
import { readCrds } from './extension-crds.js';
import { ExtensionObjects } from './extension-objects.js';
import { accessObjects } from './extension-resources.js';
import { ownedApi, roleTemplateObjects } from './extension-role-templates.js';
import { checkInstallable, unmetDependency } from './install-check.js';
import { DependencyNotInstalled, InstallError, VersionNotOffered, WaitingInstallError } from './install-error.js';
import { versionObjectName } from './extension-versions.js';
import { forceUninstallAnnotation, installSteps, retryAnnotation, uninstallFinalizer, type PlanSpec, type PlanStatus, type State } from './installplan-state.js';
import { InstallPlanStatusWriter } from './installplan-status.js';
import type { PackageStore } from './package-store.js';
import { tidyPackages } from './package-tidy.js';
import { packageUrl } from './package-routes.js';
import { ServiceTokens } from './service-tokens.js';
import { resolveVersionSource, type VersionSource } from './version-source.js';

export { forceUninstallAnnotation, retryAnnotation, uninstallFinalizer };

export interface InstallerDeps {
  service: ResourceService;
  kinds: KindRegistry;
  runtime: Runtime;
  packages: PackageStore;
  tokens: TokenService;
  coreVersion: string;
  /** The core's URL as backends reach it (loopback for processes, the core's Service in a cluster). */
  coreUrl: () => string;
  issuer: () => string;
  logger: Logger;
  /** How long a backend may take to become ready. */
  readyTimeoutMs?: number;
  /** The cap on cached archives (package-retention.ts); default 1 GiB. */
  packageCacheMaxBytes?: number;
}

const backendId = (extension: string, version: string) => backendKey({ extension, version });
/** The Installed condition's reason: for a failed plan, why (WaitingInstallError's reasons go on by themselves). */
const failedBecause = (status: PlanStatus) => status.conditions?.find((c) => c.type === 'Installed')?.reason;
/** A backend to run: a process (`entry`, run from its package) or a container (`image`). */
const hasBackend = (manifest: ExtensionManifest) => !!(manifest.backend?.entry || manifest.backend?.image);

/**
 * The InstallPlan state machine: Pending → Downloading → Installing → Installed (or
 * InstallFailed); Upgrading → Installed (or UpgradeFailed, the old version still serving);
 * Disabled; Uninstalling. Every step is idempotent, so a core killed at any point converges
 * when it reconciles the plan again; failed states wait for a spec change or a retry
 * annotation, or, failed for want of something that may come by itself, for it: a sync that
 * offers the version (VersionNotOffered), a dependency installed in its range
 * (DependencyNotInstalled); deletion always ends (force-uninstall skips failing steps).
 */
export class InstallPlanController extends Controller {
  private readonly planDef: KindDefinition;
  private readonly versionDef: KindDefinition;
  private readonly objects: ExtensionObjects;
  private readonly planStatus: InstallPlanStatusWriter;
  private readonly serviceTokens: ServiceTokens;

  constructor(private readonly d: InstallerDeps) {
    super({ name: 'installplan', logger: d.logger, resyncMs: 30_000, baseDelayMs: 1000, maxDelayMs: 60_000 });
    this.planDef = d.kinds.byGroupResource(extensionsGroup, 'installplans')!;
    this.versionDef = d.kinds.byGroupResource(extensionsGroup, 'extensionversions')!;
    this.objects = new ExtensionObjects(d);
    this.planStatus = new InstallPlanStatusWriter(d.service, this.planDef);
    this.serviceTokens = new ServiceTokens(d.tokens);
  }

  /** At start, before any plan is reconciled: what a killed core left on disk goes. */
  override async start(): Promise<void> {
    await tidyPackages({ ...this.d, planDef: this.planDef });
    return super.start();
  }

  protected watch(enqueue: (key: string) => void): () => void {
    const w = this.d.service.store.watch(this.d.service.ref(this.planDef), {}, (e) => {
      const before = e.previous;
      // An extension installed at another version (or gone): plans waiting for it as a dependency go on.
      if ((before?.status as PlanStatus | undefined)?.installedVersion !== (e.type === 'DELETED' ? undefined : (e.object.status as PlanStatus | undefined)?.installedVersion)) {
        void this.enqueueAwaitingDependencies(enqueue);
      }
      // Our own status writes leave generation and annotations alone: no loop.
      if (e.type === 'MODIFIED' && before && before.metadata.generation === e.object.metadata.generation
        && JSON.stringify(before.metadata.annotations ?? {}) === JSON.stringify(e.object.metadata.annotations ?? {})
        && before.metadata.deletionTimestamp === e.object.metadata.deletionTimestamp) return;
      enqueue(e.name);
    });
    // A version a repository's sync offers now: a plan that was waiting for it goes on (plans are
    // named after their extension).
    const versions = this.d.service.store.watch(this.d.service.ref(this.versionDef), {}, (e) => {
      const extension = e.object.metadata.labels?.[extensionLabel];
      if (e.type === 'ADDED' && extension) enqueue(extension);
    });
    // A backend that changes health changes what the plan reports.
    const onStatus = (s: { extension: string }) => enqueue(s.extension);
    this.d.runtime.on('status', onStatus);
    return () => {
      w.stop();
      versions.stop();
      this.d.runtime.off('status', onStatus);
    };
  }

  private async enqueueAwaitingDependencies(enqueue: (key: string) => void): Promise<void> {
    try {
      for (const p of (await this.d.service.store.list(this.d.service.ref(this.planDef))).items) {
        if (failedBecause((p.status ?? {}) as PlanStatus) === DependencyNotInstalled.reason) enqueue(p.metadata.name!);
      }
    } catch (e) {
      this.logger.warn({ event: 'installplan.list-failed', err: (e as Error).message }, 'could not list the plans waiting for a dependency (the resync will find them)');
    }
  }

  protected async listKeys(): Promise<string[]> {
    return (await this.d.service.store.list(this.d.service.ref(this.planDef))).items.map((p) => p.metadata.name!);
  }

  protected async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const plan = await this.d.service.getStored(this.planDef, '', name);
    if (!plan) {
      // The plan is gone (deleted without us): nothing of it may keep running.
      for (const s of this.d.runtime.list()) if (s.extension === name) await this.d.runtime.stop(s.id);
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
    // A failed upgrade leaves the installed version serving: turning the extension off (or on
    // again) applies to it at once, whatever becomes of the upgrade.
    if (failed && status.installedVersion && status.installedVersion !== target) await this.toggleInstalled(plan, spec, status);
    if (failed && status.targetVersion === target && status.observedGeneration === plan.metadata.generation && (!retry || retry === status.retriedAt)
      && !(await this.nowInstallable(name, target, failedBecause(status)))) {
      return; // waiting for a change, a retry, an uninstall, or what it failed for
    }
    if (status.installedVersion !== target) return this.install(plan, spec, status, retry);
    return this.steady(plan, spec, status);
  }

  /** spec.enabled for the version installed while an upgrade to another is failed (its state stays UpgradeFailed). */
  private async toggleInstalled(plan: KubeObject, spec: PlanSpec, status: PlanStatus): Promise<void> {
    const enabled = spec.enabled !== false;
    if (enabled === (status.conditions?.find((c) => c.type === 'Enabled')?.status !== 'False')) return;
    const name = plan.metadata.name!;
    const version = status.installedVersion!;
    const { manifest, digest } = await this.installedPackage(name, version);
    if (enabled) {
      let config: Record<string, unknown>;
      try {
        config = await checkInstallable({ service: this.d.service, planDef: this.planDef, coreVersion: this.d.coreVersion }, manifest, spec, name, version);
      } catch (e) {
        await this.planStatus.setStatus(plan, {}, [{ type: 'Enabled', status: 'False', reason: 'Disabled', message: `${name} ${version} stays disabled: ${(e as Error).message}` }]);
        return;
      }
      await this.switchOn(plan, manifest, digest, config);
    } else {
      await this.switchOff(plan, manifest, backendId(name, version));
    }
    await this.planStatus.setStatus(plan, {}, [{
      type: 'Enabled', status: enabled ? 'True' : 'False', reason: enabled ? 'Enabled' : 'Disabled',
      message: `${name} ${version}, still installed while the upgrade to ${spec.extension.version} is failed, is ${enabled ? 'enabled' : 'disabled'}`,
    }]);
    this.logger.info({ event: enabled ? 'extension.enabled' : 'extension.disabled', extension: name, version }, `${name} ${version} ${enabled ? 'enabled' : 'disabled'} (its upgrade is failed)`);
  }

  /** Installs or upgrades to spec.extension.version. */
  private async install(plan: KubeObject, spec: PlanSpec, status: PlanStatus, retry: string | undefined): Promise<void> {
    const name = plan.metadata.name!;
    const version = spec.extension.version;
    const upgrading = !!status.installedVersion;
    const inProgress: State = upgrading ? 'Upgrading' : 'Downloading';
    await this.planStatus.setStatus(plan, { state: inProgress, targetVersion: version, message: `${upgrading ? 'upgrading to' : 'installing'} ${name} ${version}`, retriedAt: retry });
    const newId = backendId(name, version);
    try {
      await this.planStatus.progress(plan, 'resolve');
      const source = await this.resolve(name, version);
      const { entry, trustedKeys } = source;
      await this.planStatus.progress(plan, 'download');
      const archive = await this.d.packages.download(source);
      // Checked again right before unpacking: the archive on disk may not be what was fetched.
      if (trustedKeys?.length) {
        const digest = await sha256File(archive);
        if (!entry.signature || !verifyDigestSignature(digest, entry.signature, trustedKeys)) {
          throw new InstallError(`the package of ${name} ${version} is not signed by a key the repository trusts`);
        }
      }
      if (!upgrading) await this.planStatus.setStatus(plan, { state: 'Installing', message: `unpacking ${name} ${version}` });
      await this.planStatus.progress(plan, 'unpack');
      const { dir, manifest } = await this.d.packages.unpack(name, version, entry.digest);
      await this.planStatus.progress(plan, 'check');
      const config = await checkInstallable({ service: this.d.service, planDef: this.planDef, coreVersion: this.d.coreVersion }, manifest, spec, name, version);
      await this.planStatus.progress(plan, 'resources');
      const owner = this.owner(plan);
      const crds = readCrds(manifest, dir, owner);
      // Checked before anything is applied: a template granting what is not the extension's refuses the install.
      const templates = roleTemplateObjects(manifest, owner, ownedApi(manifest, crds.map((c) => c.object)));
      await this.objects.apply(crds);
      const access = [...accessObjects({ manifest, owner, enabled: spec.enabled !== false }), ...templates];
      await this.objects.apply(access);
      await this.objects.pruneRoleTemplates(name, access);
      await this.planStatus.progress(plan, 'backend');
      let backendUrl: string | undefined;
      if (hasBackend(manifest) && spec.enabled !== false) {
        backendUrl = await this.startBackend(manifest, entry.digest, config);
      }
      await this.planStatus.progress(plan, 'routes');
      await this.objects.switchRoutes({ manifest, owner, enabled: spec.enabled !== false, backendUrl });
      // Only now the old version stops: it served until the new one was ready.
      if (upgrading && status.installedVersion) await this.d.runtime.stop(backendId(name, status.installedVersion));
      const state: State = spec.enabled === false ? 'Disabled' : 'Installed';
      const previousVersion = upgrading && status.installedVersion !== version ? status.installedVersion : status.previousVersion;
      await this.planStatus.setStatus(plan, {
        state, installedVersion: version, targetVersion: version, ...(previousVersion ? { previousVersion } : {}), message: `${name} ${version} ${upgrading ? 'upgraded' : 'installed'}${state === 'Disabled' ? ' (disabled)' : ''}`,
        observedGeneration: plan.metadata.generation, progress: { step: 'done', completed: installSteps.length, total: installSteps.length },
        webhooks: (manifest.webhooks ?? []).map((h) => ({ path: h.path, description: h.description })),
        childProcesses: manifest.backend?.childProcesses === true,
        workerThreads: manifest.backend?.workerThreads === true,
        listeners: this.listenersOf(manifest),
      }, [{ type: 'Installed', status: 'True', reason: upgrading ? 'Upgraded' : 'Installed' }, { type: 'Enabled', status: spec.enabled === false ? 'False' : 'True', reason: spec.enabled === false ? 'Disabled' : 'Enabled' }]);
      this.logger.info({ event: upgrading ? 'extension.upgraded' : 'extension.installed', extension: name, version }, `${name} ${version} ready`);
    } catch (e) {
      const waiting = e instanceof WaitingInstallError ? e : undefined;
      const reason = waiting?.reason ?? (upgrading ? 'UpgradeFailed' : 'InstallFailed');
      const message = (e instanceof InstallError || e instanceof ApiError ? e.message : `${(e as Error).message}`)
        + (waiting ? `; ${upgrading ? 'the upgrade goes on' : 'it is installed'} as soon as ${waiting.waitsFor}` : '');
      // Roll back what the new version started; the old one (if any) keeps serving.
      if (!upgrading || status.installedVersion !== version) await this.d.runtime.stop(newId).catch(() => undefined);
      if (!upgrading) await this.objects.removeRoutes(name);
      await this.planStatus.setStatus(plan, {
        state: upgrading ? 'UpgradeFailed' : 'InstallFailed', targetVersion: version, observedGeneration: plan.metadata.generation,
        message: `${upgrading ? `upgrade to ${version} failed, ${status.installedVersion} still serving` : `installing ${version} failed`}: ${message}`,
      }, [{ type: 'Installed', status: upgrading ? 'True' : 'False', reason, message }]);
      this.logger.warn({ event: 'extension.install-failed', extension: name, version, err: message }, 'install failed');
    }
    // Succeeded or failed: versions no longer kept, and whatever a failed step left, go.
    await tidyPackages({ ...this.d, planDef: this.planDef });
  }


  /** Installed: keep the backend running (or stopped when disabled) and routes matching `enabled`. */
  private async steady(plan: KubeObject, spec: PlanSpec, status: PlanStatus): Promise<{ requeueAfterMs?: number } | void> {
    const name = plan.metadata.name!;
    const version = status.installedVersion!;
    const enabled = spec.enabled !== false;
    const { manifest, digest } = await this.installedPackage(name, version);
    const id = backendId(name, version);
    if (enabled) {
      let config: Record<string, unknown>;
      try {
        config = await checkInstallable({ service: this.d.service, planDef: this.planDef, coreVersion: this.d.coreVersion }, manifest, spec, name, version);
      } catch (e) {
        // A bad change of config leaves the running backend as it was.
        const message = `${(e as Error).message}; ${name} keeps running with its previous configuration`;
        if (status.message !== message) await this.planStatus.setStatus(plan, { message, observedGeneration: plan.metadata.generation }, [{ type: 'ConfigValid', status: 'False', reason: 'Invalid', message: (e as Error).message }]);
        return;
      }
      await this.switchOn(plan, manifest, digest, config);
    } else {
      await this.switchOff(plan, manifest, id);
    }
    const backend = this.d.runtime.status(id);
    const healthy = !hasBackend(manifest) || !enabled || backend?.state === 'Ready';
    const state: State = enabled ? 'Installed' : 'Disabled';
    const listeners = this.listenersOf(manifest);
    const listenersChanged = JSON.stringify(listeners) !== JSON.stringify(status.listeners ?? []);
    const message = !healthy ? `the backend is ${backend?.state ?? 'not running'}${backend?.message ? `: ${backend.message}` : ''}` : enabled ? `${name} ${version} is serving` : `${name} ${version} is disabled`;
    if (status.state !== state || status.message !== message || status.observedGeneration !== plan.metadata.generation || listenersChanged) {
      await this.planStatus.setStatus(plan, { state, message, observedGeneration: plan.metadata.generation, listeners }, [
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
    if (status.state !== 'Uninstalling') await this.planStatus.setStatus(plan, { state: 'Uninstalling', message: `uninstalling ${name}` }).catch(() => undefined);
    try {
      for (const s of this.d.runtime.list()) if (s.extension === name) await this.d.runtime.stop(s.id);
      await this.objects.removeRoutes(name);
      for (const [group, plural] of [[iamGroup, 'roletemplates'], [iamGroup, 'globalrolebindings'], [iamGroup, 'globalroles'], [iamGroup, 'users'], ['apiextensions.k8s.io', 'customresourcedefinitions']] as const) {
        await this.objects.deleteLabelled(group, plural, name);
      }
      this.d.packages.removeAll(name, spec.purgeOnUninstall === true);
      await tidyPackages({ ...this.d, planDef: this.planDef });
    } catch (e) {
      if (!force) {
        await this.planStatus.setStatus(plan, { state: 'UninstallFailed', message: `uninstall failed: ${(e as Error).message} (set the annotation ${forceUninstallAnnotation}=true to finish anyway)` }).catch(() => undefined);
        throw e;
      }
    }
    const rest = (plan.metadata.finalizers ?? []).filter((f) => f !== uninstallFinalizer);
    await this.d.service.patch(this.planDef, '', name, 'merge', { metadata: { finalizers: rest.length ? rest : null } }, {}).catch(ignoreNotFound);
    this.logger.info({ event: 'extension.uninstalled', extension: name }, `${name} uninstalled`);
  }

  /**
   * Whether what a plan failed for is gone: a synced repository offers its version now
   * (VersionNotOffered), or every dependency the version names is installed in its range
   * (DependencyNotInstalled). Cheap: a plan waits here at every resync.
   */
  private async nowInstallable(name: string, version: string, reason: string | undefined): Promise<boolean> {
    if (reason !== VersionNotOffered.reason && reason !== DependencyNotInstalled.reason) return false;
    const offered = await this.d.service.getStored(this.versionDef, '', versionObjectName(name, version));
    if (!offered || reason === VersionNotOffered.reason) return !!offered;
    const dependencies = (offered.spec as { dependencies?: Record<string, string> }).dependencies;
    return !(await unmetDependency({ service: this.d.service, planDef: this.planDef }, dependencies));
  }

  /** The package of an installed version, unpacked (again, should a tidy have taken it). */
  private async installedPackage(name: string, version: string): Promise<{ manifest: ExtensionManifest; digest: string }> {
    const digest = (await this.resolve(name, version).catch(() => undefined))?.entry.digest ?? this.currentDigest(name, version);
    return { manifest: (await this.d.packages.unpack(name, version, digest)).manifest, digest };
  }

  /** An installed version on: its backend started (or kept, if running with the same spec), then its routes and UI. */
  private async switchOn(plan: KubeObject, manifest: ExtensionManifest, digest: string, config: Record<string, unknown>): Promise<void> {
    // Idempotent: a running (or restarting) backend with the same spec is left to the runtime
    // (the gateway answers 503 meanwhile); a changed config restarts it.
    const backendUrl = hasBackend(manifest) ? await this.ensureBackend(manifest, digest, config) : undefined;
    // While a backend restarts it has no address yet: the routes keep the last one.
    if (backendUrl || !hasBackend(manifest)) await this.objects.switchRoutes({ manifest, owner: this.owner(plan), enabled: true, backendUrl });
  }

  /**
   * An installed version off: routes and UI at once (a disabled route names no backend: the
   * gateway answers 503 saying the extension is disabled), then the backend stops.
   */
  private async switchOff(plan: KubeObject, manifest: ExtensionManifest, id: string): Promise<void> {
    await this.objects.switchRoutes({ manifest, owner: this.owner(plan), enabled: false });
    await this.d.runtime.stop(id);
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

  /** What the runtime runs: the package named (never located: each runtime gets it its own way) or the image. */
  private async backendSpec(manifest: ExtensionManifest, digest: string, config: Record<string, unknown>): Promise<BackendSpec> {
    const backend = manifest.backend!;
    const healthPath = backend.healthPath ?? DEFAULT_HEALTH_PATH;
    const coreUrl = this.d.coreUrl();
    return {
      id: backendId(manifest.name, manifest.version), extension: manifest.name, version: manifest.version,
      ...(backend.image ? { image: backend.image } : {}),
      ...(backend.entry ? { package: { digest, entry: backend.entry, url: packageUrl(coreUrl, manifest.name, manifest.version) } } : {}),
      healthPath,
      nativeAddons: backend.nativeAddons === true,
      allowChildProcesses: backend.childProcesses === true,
      allowWorkerThreads: backend.workerThreads === true,
      ...(backend.listeners?.length ? { listeners: backend.listeners.map((l) => l.name) } : {}),
      env: {
        ...(backend.env ?? {}),
        ...runtimeEnvironment({
          extension: manifest.name, version: manifest.version, coreUrl, issuer: this.d.issuer(),
          token: await this.serviceTokens.get(manifest.name), config: JSON.stringify(config), healthPath,
        }),
      },
    };
  }

  /** Starts the backend if it is not running with this spec; waits only for a fresh start. */
  private async ensureBackend(manifest: ExtensionManifest, digest: string, config: Record<string, unknown>): Promise<string | undefined> {
    const status = await this.d.runtime.start(await this.backendSpec(manifest, digest, config));
    if (status.state !== 'Starting') return status.url;
    return this.waitBackend(status.id);
  }

  private async startBackend(manifest: ExtensionManifest, digest: string, config: Record<string, unknown>): Promise<string> {
    await this.ensureBackend(manifest, digest, config);
    return this.waitBackend(backendId(manifest.name, manifest.version));
  }

  private async waitBackend(id: string): Promise<string> {
    try {
      const s = await this.d.runtime.waitReady(id, this.d.readyTimeoutMs ?? 60_000);
      return s.url!;
    } catch (e) {
      const logs = meaningfulTail((await this.d.runtime.logs(id, { tail: 60 })).lines.map((l) => l.line), 5).join(' | ');
      throw new InstallError(`the backend did not become ready: ${(e as Error).message}${logs ? ` (last output: ${logs})` : ''}`);
    }
  }

  private owner(plan: KubeObject): OwnerReference {
    return { apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'InstallPlan', name: plan.metadata.name!, uid: plan.metadata.uid!, controller: true, blockOwnerDeletion: true };
  }

}
