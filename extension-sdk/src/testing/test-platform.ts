import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreClient } from '../backend/core-client.js';
import { packExtension } from '../package/pack.js';
import { addToIndex, emptyRepositoryIndex } from '../repository/index-operations.js';
import { serializeRepositoryIndex } from '../repository/serialize-index.js';
import type { RepositoryIndex } from '../repository/types.js';
import { findCoreEntry, startCoreProcess, type CoreProcess } from './core-process.js';

const extensionsApi = '/apis/extensions.mortise.io/v1alpha1';
const iamApi = '/apis/iam.mortise.io/v1alpha1';

export interface TestPlatformOptions {
  /** The core's entry (`dist/bundle/main.js`). Default `MORTISE_CORE_ENTRY`, else `@mortise/core/main` of the `@mortise/core` package beside the SDK. */
  coreEntry?: string;
  /** More environment for the core (`MORTISE_LOG_LEVEL`, ...). */
  env?: Record<string, string>;
  /** How long the core may take to start. Default 30 s. */
  startTimeoutMs?: number;
}

/** A user of the platform under test, with a token and clients that carry it. */
export interface TestUser {
  username: string;
  /** A bearer token of this user. */
  token: string;
  /** The core's API as this user (JSON in and out; failures throw `CoreApiError` with the core's Status). */
  core: CoreClient;
  /** A raw request as this user (through the gateway for `/proxy/...` and extension `/kapis/...` paths). */
  fetch(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** GET or POST/PUT/PATCH with a JSON body, expecting a 2xx JSON answer (throws with the Status otherwise). */
  json<T = unknown>(path: string, init?: RequestInit & { json?: unknown }): Promise<T>;
}

export interface InstallOptions {
  /** `spec.config` of the InstallPlan. */
  config?: Record<string, unknown>;
  enabled?: boolean;
  /** How long the install may take. Default 60 s. */
  timeoutMs?: number;
}

export interface InstalledExtension {
  name: string;
  version: string;
  /** The paths inside the package that was installed (what `mortise-ext pack` would put in it). */
  files: string[];
  /** The InstallPlan's status once installed. */
  status: { state: string; installedVersion?: string; message?: string };
}

/** What a failed install throws: the InstallPlan's status says why (with the backend's last lines). */
export class InstallFailedError extends Error {
  override readonly name = 'InstallFailedError';
  constructor(message: string, readonly status: Record<string, unknown>) {
    super(message);
  }
}

export interface TestPlatform {
  /** The core's base URL (API and gateway). */
  url: string;
  /** The bootstrap admin. */
  admin: TestUser;
  /** A made-up user (created with a random password), optionally bound to global roles (`platform-admin`, `platform-regular`). */
  user(username: string, opts?: { globalRoles?: string[] }): Promise<TestUser>;
  /** Packs the extension in `dir` (as `mortise-ext pack` would), offers it from a file:// repository and installs it; resolves once Installed. */
  install(dir: string, opts?: InstallOptions): Promise<InstalledExtension>;
  /** The installed backend's log (`GET .../extensions/{name}/logs`). */
  logs(name: string, tailLines?: number): Promise<string>;
  /** What the core itself logged (for failure messages). */
  coreOutput(): string;
  /** Stops the core (and every backend it runs) and deletes its state. */
  close(): Promise<void>;
}

/**
 * A real Mortise core for an extension's tests: started as a child process with its state in a
 * temp dir, an admin, made-up users with tokens, and `install(dir)` that puts the extension under
 * test through the same path as a real install (package, repository, InstallPlan, runtime,
 * gateway). Nothing is mocked: the backend runs confined as in production.
 */
export async function startTestPlatform(opts: TestPlatformOptions = {}): Promise<TestPlatform> {
  const entry = findCoreEntry(opts.coreEntry);
  const root = mkdtempSync(join(tmpdir(), 'mortise-test-platform-'));
  const adminPassword = randomBytes(18).toString('base64url');
  let core: CoreProcess;
  try {
    core = await startCoreProcess(entry, {
      MORTISE_DATA_DIR: join(root, 'core'), MORTISE_ADMIN_PASSWORD: adminPassword, MORTISE_BUNDLED_REPOSITORY: 'off', MORTISE_LOG_LEVEL: 'warn',
      ...opts.env,
    }, opts.startTimeoutMs ?? 30_000);
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  const url = core.url;
  const userFor = (username: string, token: string): TestUser => {
    const request = (path: string, init: RequestInit & { json?: unknown } = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      }
      return fetch(`${url}${path}`, { ...init, headers, body });
    };
    return {
      username, token, core: new CoreClient({ url, token }), fetch: request,
      async json<T>(path: string, init?: RequestInit & { json?: unknown }) {
        const res = await request(path, { method: init?.json !== undefined ? 'POST' : 'GET', ...init });
        const text = await res.text();
        if (!res.ok) throw new Error(`${init?.method ?? (init?.json !== undefined ? 'POST' : 'GET')} ${path}: ${res.status} ${text}`);
        return (text ? JSON.parse(text) : undefined) as T;
      },
    };
  };
  const login = async (username: string, password: string) => {
    const res = await fetch(`${url}/oauth/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username, password }),
    });
    const body = (await res.json()) as { access_token?: string; error_description?: string };
    if (!res.ok || !body.access_token) throw new Error(`login as ${username} failed: ${res.status} ${body.error_description ?? ''}`);
    return userFor(username, body.access_token);
  };
  const admin = await login('admin', adminPassword);

  const repoDir = join(root, 'repository');
  mkdirSync(join(repoDir, 'packages'), { recursive: true });
  let index: RepositoryIndex = emptyRepositoryIndex();
  let repositoryCreated = false;
  const until = async <T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  return {
    url, admin,
    async user(username, o = {}) {
      const password = randomBytes(18).toString('base64url');
      await admin.json(`${iamApi}/users`, { json: { metadata: { name: username }, spec: { email: `${username}@users.test`, password } } });
      for (const role of o.globalRoles ?? []) {
        await admin.json(`${iamApi}/globalrolebindings`, {
          json: { metadata: { name: `${username}-${role}` }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: role }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: username }] },
        });
      }
      return login(username, password);
    },

    async install(dir, o = {}) {
      const timeoutMs = o.timeoutMs ?? 60_000;
      const packed = await packExtension(dir, { outDir: join(repoDir, 'packages') });
      const { name, version } = packed.manifest;
      index = addToIndex(index, packed.manifest, { digest: packed.sha256, url: `packages/${basename(packed.file)}` });
      writeFileSync(join(repoDir, 'index.yaml'), serializeRepositoryIndex(index));
      const repoPath = `${extensionsApi}/repositories/under-test`;
      if (!repositoryCreated) {
        await admin.json(`${extensionsApi}/repositories`, { json: { metadata: { name: 'under-test' }, spec: { url: pathToFileURL(repoDir).href, interval: '1h' } } });
        repositoryCreated = true;
      } else {
        await admin.json(repoPath, {
          method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' },
          json: { metadata: { annotations: { 'extensions.mortise.io/sync-requested-at': new Date().toISOString() } } },
        });
      }
      const versionName = `${name}-${version}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/[-.]+$/, '');
      await until(`${name} ${version} to be offered`, timeoutMs, async () => ((await admin.fetch(`${extensionsApi}/extensionversions/${versionName}`)).ok ? true : undefined));
      const planPath = `${extensionsApi}/installplans/${name}`;
      const existing = await admin.fetch(planPath);
      const spec = { extension: { name, version }, enabled: o.enabled ?? true, ...(o.config ? { config: o.config } : {}) };
      if (existing.ok) {
        await admin.json(planPath, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, json: { spec } });
      } else {
        await admin.json(`${extensionsApi}/installplans`, { json: { metadata: { name }, spec } });
      }
      const status = await until(`${name} ${version} to be installed`, timeoutMs, async () => {
        const plan = await admin.json<{ metadata: { generation?: number }; status?: Record<string, unknown> & { state?: string; installedVersion?: string; targetVersion?: string; observedGeneration?: number; message?: string } }>(planPath);
        const s = plan.status;
        if (!s || s.targetVersion !== version || s.observedGeneration !== plan.metadata.generation) return undefined;
        if (s.state === 'InstallFailed' || s.state === 'UpgradeFailed') throw new InstallFailedError(`installing ${name} ${version} failed: ${s.message ?? s.state}`, s);
        return (s.state === 'Installed' || s.state === 'Disabled') && s.installedVersion === version ? s : undefined;
      });
      return { name, version, files: packed.entries, status: status as InstalledExtension['status'] };
    },

    async logs(name, tailLines = 500) {
      const res = await admin.fetch(`/kapis/extensions.mortise.io/v1alpha1/extensions/${encodeURIComponent(name)}/logs?tailLines=${tailLines}`);
      if (!res.ok) throw new Error(`the logs of ${name}: ${res.status} ${await res.text()}`);
      return res.text();
    },

    coreOutput: () => core.output(),

    async close() {
      await core.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
