import type { ResourceStrategy } from '../registry/kind.js';
import type { StatusCause } from '../api/status.js';

/** An InstallPlan is named after its extension (one plan per extension) and starts Pending. */
export const installPlanStrategy: ResourceStrategy = {
  prepareForCreate(obj) {
    obj.status = { state: 'Pending', message: 'waiting for the installer', history: [{ time: new Date().toISOString(), state: 'Pending', message: 'waiting for the installer' }] };
  },
  validate(obj): StatusCause[] {
    const ext = (obj.spec as { extension?: { name?: string; version?: string } } | undefined)?.extension;
    const causes: StatusCause[] = [];
    if (ext?.name && ext.name !== obj.metadata.name) {
      causes.push({ field: 'spec.extension.name', message: `Invalid value: "${ext.name}": must equal metadata.name (${obj.metadata.name}); a plan is named after its extension` });
    }
    if (ext?.version !== undefined && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(ext.version)) {
      causes.push({ field: 'spec.extension.version', message: `Invalid value: "${ext.version}": must be a semantic version such as 1.2.3` });
    }
    return causes;
  },
};
