import type { Phase, RunStatus, Stage } from '../src/pipeline-types.js';

// Where the pages find things: the kinds, the extension's own API, and the console's URLs.

export const runTabsPoint = 'devops.mortise.io/run-tabs';
export const group = 'devops.mortise.io';
export const version = 'v1alpha1';
export const kapi = (ns: string) => `/kapis/${group}/${version}/namespaces/${encodeURIComponent(ns)}`;
export const pageBase = (workspace: string | undefined, ns: string) => `/workspaces/${encodeURIComponent(workspace ?? '')}/namespaces/${encodeURIComponent(ns)}/x/devops`;

export type { Phase, RunStatus, Stage };

/** The props every contribution to `devops.mortise.io/run-tabs` receives. */
export interface RunTabProps {
  namespace: string;
  pipeline: string;
  run: string;
  startTime?: string;
  completionTime?: string;
}

export const phaseColor = (phase?: string) =>
  phase === 'Succeeded' ? 'green' : phase === 'Failed' ? 'red' : phase === 'Running' ? 'blue' : phase === 'WaitingForApproval' ? 'yellow' : phase === 'Aborted' ? 'orange' : 'gray';

/**
 * The part of the page's path after `prefix` (e.g. the run's name in `runs/<name>`): the host
 * hands an extension page the path below its base as the route's `*`.
 */
export function restAfter(rest: string | undefined, prefix: string): string {
  const r = rest ?? '';
  return r.startsWith(prefix) ? decodeURIComponent(r.slice(prefix.length).split('/')[0] ?? '') : '';
}
