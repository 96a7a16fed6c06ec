import { expect } from 'vitest';
import { eventually, type TestCore } from '../../../core/test/support/test-core.js';

// InstallPlans through the API, as an administrator does it: install, wait for a state, toggle.

const ext = '/apis/extensions.mortise.io/v1alpha1';

/** Waits until the plan is in `state`; an InstallFailed plan fails at once with its message. */
export const waitPlanState = (t: TestCore, name: string, state: string) => eventually(async () => {
  const s = ((await (await t.api(`${ext}/installplans/${name}`)).json()) as { status?: { state?: string; message?: string } }).status;
  if (s?.state === 'InstallFailed') throw new Error(s.message);
  return s?.state === state;
}, 90_000, `${name} ${state}`);

export async function installPlan(t: TestCore, name: string, config: Record<string, unknown> = {}): Promise<void> {
  const res = await t.api(`${ext}/installplans`, { method: 'POST', json: { metadata: { name }, spec: { extension: { name, version: '0.1.0' }, enabled: true, config } } });
  expect(res.status, await res.clone().text()).toBe(201);
  await waitPlanState(t, name, 'Installed');
}

export async function setPlanEnabled(t: TestCore, name: string, enabled: boolean): Promise<void> {
  const res = await t.api(`${ext}/installplans/${name}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { enabled } }) });
  expect(res.status, await res.clone().text()).toBe(200);
  await waitPlanState(t, name, enabled ? 'Installed' : 'Disabled');
}
