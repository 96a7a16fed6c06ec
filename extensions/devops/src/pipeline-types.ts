import type { ParameterDefinition } from './run-parameters.js';

// The shapes of the devops.mortise.io/v1alpha1 kinds the backend reads and writes.

export interface SecretEnv { name: string; secretRef: { name: string; key: string } }

export interface Step {
  name?: string;
  /** A shell script run in the sandbox, in /workspace. */
  sh?: string;
  /** Clone a git repository into the workspace (or `dir` under it). */
  checkout?: { url: string; ref?: string; dir?: string };
  /** Keep a file of the workspace as a downloadable artifact. */
  archive?: string;
  /** Wait until one of `approvers` approves. */
  approval?: { approvers: string[]; message?: string };
  timeoutSeconds?: number;
  retries?: number;
  env?: Record<string, string>;
  /** Values from Secrets of the run's namespace; masked in the log. */
  secretEnv?: SecretEnv[];
}

export interface Stage {
  name: string;
  when?: { parameter: string; equals: string };
  steps?: Step[];
  parallel?: Array<{ name: string; steps: Step[] }>;
}

export interface PipelineSpec {
  parameters?: ParameterDefinition[];
  env?: Record<string, string>;
  stages: Stage[];
  post?: { always?: Step[]; success?: Step[]; failure?: Step[] };
  triggers?: { webhook?: { secretRef: { name: string; key: string } }; cron?: { schedule: string; timezone?: string; parameters?: Record<string, string> } };
}

export type Phase = 'Pending' | 'Running' | 'WaitingForApproval' | 'Succeeded' | 'Failed' | 'Skipped' | 'Aborted';

export interface StepStatus {
  name: string;
  phase: Phase;
  startTime?: string;
  completionTime?: string;
  exitCode?: number;
  attempts?: number;
  message?: string;
  approvedBy?: string;
}

export interface StageStatus { name: string; phase: Phase; branches: Array<{ name: string; steps: StepStatus[] }> }

export interface RunStatus {
  phase: Phase;
  message?: string;
  startTime?: string;
  completionTime?: string;
  triggeredBy?: string;
  parameters?: Record<string, string>;
  stages: StageStatus[];
  artifacts?: Array<{ name: string; size: number }>;
}

export interface KubeObject<S = unknown, T = unknown> {
  metadata: { name: string; namespace: string; uid?: string; annotations?: Record<string, string>; creationTimestamp?: string };
  spec: S;
  status?: T;
}

export interface RunSpec { pipeline: string; parameters?: Record<string, string>; triggeredBy?: string; abort?: boolean }

export const stepName = (s: Step, i: number) => s.name ?? (s.sh ? `sh-${i}` : s.checkout ? `checkout-${i}` : s.archive ? `archive-${i}` : s.approval ? `approval-${i}` : `step-${i}`);
