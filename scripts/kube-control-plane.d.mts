// Types of scripts/kube-control-plane.mjs.
import type { Agent } from 'undici';
export function kubeBinariesPresent(): boolean;
export function kubeconfigText(server: string, caPem: string, token: string): string;
export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  /** A cluster admin's bearer token (group system:masters). */
  adminToken: string;
  /** A user with no grants in the cluster. */
  nobodyToken: string;
  /** The admin's kubeconfig file. */
  kubeconfigPath: string;
  /** An undici pool that trusts the serving certificate's CA. */
  dispatcher: Agent;
  stop(): Promise<void>;
}
export function startControlPlane(certs: { caCertPem: string; certPem: string; keyPem: string }): Promise<ControlPlane>;
