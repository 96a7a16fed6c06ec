import { mergeConditions } from '../controller/conditions.js';
import { ignoreNotFound } from '../controller/garbage-collector.js';
import type { KindDefinition } from '../registry/kind.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject } from '../store/resource-store.js';
import { installSteps, type PlanStatus } from './installplan-state.js';

/** Writes an InstallPlan's status subresource: progress through the steps, state with its history and conditions. */
export class InstallPlanStatusWriter {
  constructor(private readonly service: ResourceService, private readonly planDef: KindDefinition) {}

  async progress(plan: KubeObject, step: string) {
    const i = installSteps.indexOf(step);
    await this.service.patch(this.planDef, '', plan.metadata.name!, 'merge', { status: { progress: { step, completed: i, total: installSteps.length } } }, {}, { subresource: 'status' }).catch(ignoreNotFound);
  }

  async setStatus(plan: KubeObject, fields: PlanStatus, conditions: Array<{ type: string; status: string; reason: string; message?: string }> = []) {
    const current = await this.service.getStored(this.planDef, '', plan.metadata.name!);
    if (!current) return;
    const status = (current.status ?? {}) as PlanStatus;
    const now = new Date().toISOString();
    const merged = mergeConditions(status.conditions, conditions, now);
    const history = [...(status.history ?? [])];
    if (fields.state && fields.state !== status.state) history.push({ time: now, state: fields.state, version: fields.targetVersion ?? status.targetVersion, message: fields.message ?? '' });
    // Unset fields are left out: a patch is JSON data, where undefined has no place.
    const set = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    await this.service.patch(this.planDef, '', plan.metadata.name!, 'merge', {
      status: { ...set, conditions: merged, history: history.slice(-20) },
    }, {}, { subresource: 'status' }).catch(ignoreNotFound);
  }
}
