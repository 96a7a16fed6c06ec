import { expect } from 'vitest';
import { call, eventually, login, type TestCore } from './test-core.js';

// Tenants of a test core: users signed in, requests as each of them, workspaces they manage. The
// security tests play one tenant against another with these.

const iam = '/apis/iam.mortise.io/v1alpha1';
const tenant = '/apis/tenant.mortise.io/v1alpha1';

type Init = RequestInit & { json?: unknown };
export interface Created { metadata: { name?: string; uid?: string; resourceVersion: string; [k: string]: unknown }; [k: string]: unknown }

export interface Tenants {
  /** Each user's access token, by name. */
  tokens: Record<string, string>;
  /** Requests as user `u` (with their token). */
  as(u: string): (path: string, init?: Init) => Promise<Response>;
  /** POSTs `body` to `path` as `u` (else as the admin), expects 201 and returns the object. */
  created<T = Created>(path: string, body: unknown, u?: string): Promise<T>;
  /** Creates the users (password `<name>-Password-9x`) and signs each in. */
  addUsers(...names: string[]): Promise<void>;
  /** Creates workspaces (name → manager) and waits until each manager may read theirs. */
  addWorkspaces(managers: Record<string, string>, timeoutMs?: number): Promise<void>;
}

/** `core()` gives the test core once started (tests start it in beforeAll). */
export function tenantsOf(core: () => TestCore): Tenants {
  const tokens: Record<string, string> = {};
  const as = (u: string) => (path: string, init: Init = {}) => call(core().url, tokens[u], path, init);
  const created = async <T = Created>(path: string, body: unknown, u?: string): Promise<T> => {
    const res = u ? await as(u)(path, { method: 'POST', json: body }) : await core().api(path, { method: 'POST', json: body });
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(201);
    return (await res.json()) as T;
  };
  return {
    tokens, as, created,
    async addUsers(...names) {
      for (const u of names) {
        await created(`${iam}/users`, { metadata: { name: u }, spec: { email: `${u}@example.com`, password: `${u}-Password-9x` } });
        tokens[u] = await login(core().url, u, `${u}-Password-9x`);
      }
    },
    async addWorkspaces(managers, timeoutMs = 5000) {
      for (const [name, manager] of Object.entries(managers)) await created(`${tenant}/workspaces`, { metadata: { name }, spec: { manager } });
      for (const [name, manager] of Object.entries(managers)) {
        await eventually(async () => (await as(manager)(`${tenant}/workspaces/${name}`)).status === 200, timeoutMs, `${manager} manages ${name}`);
      }
    },
  };
}
