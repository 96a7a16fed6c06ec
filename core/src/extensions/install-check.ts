import { Ajv } from 'ajv';
import semver from 'semver';
import type { ExtensionManifest } from '@mortise/extension-sdk/manifest';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import { DependencyNotInstalled, InstallError } from './install-error.js';
import type { PlanSpec, PlanStatus } from './installplan-state.js';

export interface InstallCheckDeps {
  service: ResourceService;
  planDef: KindDefinition;
  coreVersion: string;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });

/** Manifest identity, core compatibility, dependencies and config. Returns the config with defaults. */
export async function checkInstallable(d: InstallCheckDeps, manifest: ExtensionManifest, spec: PlanSpec, name: string, version: string): Promise<Record<string, unknown>> {
  if (manifest.name !== name || manifest.version !== version) {
    throw new InstallError(`the package says it is ${manifest.name} ${manifest.version}, not ${name} ${version}`);
  }
  if (!semver.satisfies(d.coreVersion, manifest.engines.mortise, { includePrerelease: true })) {
    throw new InstallError(`${name} ${version} needs a Mortise core ${manifest.engines.mortise}; this core is ${d.coreVersion}`);
  }
  const missing = await unmetDependency(d, manifest.dependencies);
  if (missing) {
    const [dep, range, installed] = missing;
    throw new DependencyNotInstalled(installed ? `${name} depends on ${dep} ${range}, but ${dep} ${installed} is installed` : `${name} depends on ${dep} ${range}, which is not installed`, dep, range);
  }
  const config = structuredClone({ ...(manifest.config ?? {}), ...(spec.config ?? {}) }) as Record<string, unknown>;
  if (manifest.configSchema) {
    const validate = ajv.compile(manifest.configSchema);
    if (!validate(config)) {
      throw new InstallError(`spec.config is invalid: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}`);
    }
  }
  return config;
}

/** The first dependency not installed at a version in its range: [name, range, the installed version if any]. */
export async function unmetDependency(d: Pick<InstallCheckDeps, 'service' | 'planDef'>, dependencies: Record<string, string> | undefined): Promise<[string, string, string | undefined] | undefined> {
  for (const [dep, range] of Object.entries(dependencies ?? {})) {
    const p = await d.service.getStored(d.planDef, '', dep);
    const installed = (p?.status as PlanStatus | undefined)?.installedVersion;
    if (!installed || !semver.satisfies(installed, range, { includePrerelease: true })) return [dep, range, installed];
  }
  return undefined;
}
