import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createCore, type Core, type CoreOptions } from '../../src/server.js';
import { createLogger } from '../../src/ops/logger.js';
import { LogBuffer } from '../../src/ops/log-buffer.js';

export const adminPassword = 'admin-password-for-tests';

export interface TestCore {
  core: Core;
  url: string;
  httpsUrl: string;
  dataDir?: string;
  /** An access token of the bootstrap admin. */
  token: string;
  /** A client-node KubeConfig for the admin, over HTTPS with the core's CA. */
  kubeConfig: k8s.KubeConfig;
  /** A kubeconfig file for kubectl. */
  kubeconfigPath: string;
  /** fetch against the core as the admin (JSON in, Response out). */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/** A real core on 127.0.0.1 with a random port; SQLite in a temp dir unless `inMemory`. */
export async function startTestCore(opts: CoreOptions & { inMemory?: boolean; keepDataDir?: boolean } = {}): Promise<TestCore> {
  const dataDir = opts.inMemory ? undefined : (opts.dataDir ?? mkdtempSync(join(tmpdir(), 'mortise-test-')));
  // The core's log goes to its buffer (the core log API) and, only when asked, to standard output.
  const logBuffer = opts.logBuffer ?? new LogBuffer();
  const core = await createCore({
    host: '127.0.0.1', port: 0, adminPassword, logBuffer, logger: createLogger({ level: process.env.MORTISE_TEST_LOG_LEVEL ?? 'silent', buffer: logBuffer }),
    ...opts, dataDir,
  });
  const url = await core.listen();
  const token = await login(url, 'admin', adminPassword);
  const kubeConfig = kubeConfigFor(core, token);
  const kubeconfigDir = dataDir ? undefined : mkdtempSync(join(tmpdir(), 'mortise-kc-'));
  const kubeconfigPath = join(dataDir ?? kubeconfigDir!, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeConfig.exportConfig());
  return {
    core, url, httpsUrl: core.httpsUrl, dataDir, token, kubeConfig, kubeconfigPath,
    api: (path, init = {}) => call(url, token, path, init),
    async close() {
      await core.close();
      if (kubeconfigDir) rmSync(kubeconfigDir, { recursive: true, force: true });
      if (dataDir && !opts.keepDataDir && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function kubeConfigFor(core: Core, token: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'mortise', server: core.httpsUrl, caData: Buffer.from(core.certs.caCertPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'user', token }],
    contexts: [{ name: 'mortise', cluster: 'mortise', user: 'user' }],
    currentContext: 'mortise',
  });
  return kc;
}

export async function login(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password }),
  });
  const body = (await res.json()) as { access_token?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`login as ${username} failed: ${res.status} ${body.error_description}`);
  return body.access_token;
}

export function call(url: string, token: string | undefined, path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  return fetch(`${url}${path}`, { ...init, headers, body });
}

/** Polls until `check` returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const workspace = (name: string, labels: Record<string, string> = {}, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace', metadata: { name, labels }, spec,
});
