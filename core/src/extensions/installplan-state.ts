import type { Condition } from '../controller/conditions.js';

// What an InstallPlan holds: its spec, its status and the annotations that steer the installer.

export const uninstallFinalizer = 'extensions.mortise.io/uninstall';
/** Set to a timestamp to retry a failed install or upgrade. */
export const retryAnnotation = 'extensions.mortise.io/retry-at';
/** Set to "true" to let an uninstall finish even if its steps fail. */
export const forceUninstallAnnotation = 'extensions.mortise.io/force-uninstall';

export type State = 'Pending' | 'Downloading' | 'Installing' | 'Installed' | 'InstallFailed' | 'Upgrading' | 'UpgradeFailed' | 'Disabled' | 'Uninstalling' | 'UninstallFailed';

export interface PlanSpec { extension: { name: string; version: string }; enabled?: boolean; config?: Record<string, unknown>; purgeOnUninstall?: boolean }
export interface PlanStatus {
  state?: State; installedVersion?: string; targetVersion?: string; previousVersion?: string; message?: string; observedGeneration?: number;
  progress?: { step: string; completed: number; total: number };
  conditions?: Condition[];
  history?: Array<{ time: string; state: string; version?: string; message?: string }>;
  retriedAt?: string;
  /** What the installed version serves without a login. */
  webhooks?: Array<{ path: string; description: string }>;
  childProcesses?: boolean;
  /** The installed backend may start worker threads (`--allow-worker`): one started with execArgv of its own is not confined. */
  workerThreads?: boolean;
  /** The ports the backend listens on besides its own (the manifest's `backend.listeners`). */
  listeners?: Array<{ name: string; description: string; port?: number }>;
}

/** The steps `status.progress` counts through. */
export const installSteps = ['resolve', 'download', 'unpack', 'check', 'resources', 'backend', 'routes'];
