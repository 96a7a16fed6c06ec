// Types of scripts/kube-apiserver.mjs, for the tests that start the control plane it builds.
export const KUBE_VERSION: string;
export const cacheDir: string;
export const apiserverBinary: string;
export const controllerManagerBinary: string;
export const etcdBinary: string;
export function kubeApiserverPresent(): boolean;
export function ensureKubeApiserver(): { apiserver: string; controllerManager: string; etcd: string };
