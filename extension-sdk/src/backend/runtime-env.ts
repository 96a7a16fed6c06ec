import { DEFAULT_HEALTH_PATH } from '../manifest/types.js';

// The contract between the core's runtime and an extension's backend: the environment a backend
// process is started with. Defined once here; the core builds a backend's environment with
// `runtimeEnvironment()` and the backend helper reads it with `readRuntimeEnvironment()`, so the
// two cannot drift apart. `mortise-ext dev` sets the same variables for a backend run locally.

/** Every variable the runtime sets, with what it means (docs and `mortise-ext dev --print-env` read this table). */
export const RUNTIME_ENV = {
  extension: { name: 'MORTISE_EXTENSION', description: "the extension's name: the audience of the identities the core forwards" },
  version: { name: 'MORTISE_EXTENSION_VERSION', description: "the installed version (the manifest's `version`)" },
  coreUrl: { name: 'MORTISE_CORE_URL', description: "the core's base URL, for calls to its API and its keys (`/oauth/keys`)" },
  issuer: { name: 'MORTISE_ISSUER', description: 'the `iss` of the identity tokens the core signs' },
  token: { name: 'MORTISE_TOKEN', description: "the service account's bearer token (exactly the manifest's `permissions`)" },
  config: { name: 'MORTISE_CONFIG', description: 'the configuration as JSON, validated against `configSchema` (defaults merged)' },
  dataDir: { name: 'MORTISE_DATA_DIR', description: 'the only directory the backend may write; kept across versions' },
  healthPath: { name: 'MORTISE_HEALTH_PATH', description: "the manifest's `backend.healthPath`: the path the runtime polls for readiness" },
  port: { name: 'PORT', description: 'the port to listen on' },
  listeners: { name: 'MORTISE_LISTENERS', description: "the ports of the manifest's `backend.listeners` as JSON, `{\"<name>\": <port>}` (on HOST)" },
  host: { name: 'HOST', description: 'the address to listen on (127.0.0.1)' },
  socket: { name: 'MORTISE_SOCKET', description: 'a Unix socket to serve on as well, before PORT (process backends): the core sends its requests there when it answers the health path by the time PORT does; PORT stays for health checks and websockets' },
} as const;

export type RuntimeEnvKey = keyof typeof RUNTIME_ENV;

/** The values of the runtime's environment, by key; all strings as they travel in the environment. */
export type RuntimeEnvironment = { [K in RuntimeEnvKey]?: string };

/** The health path a backend serves when its manifest names none. */
export { DEFAULT_HEALTH_PATH };

/**
 * The user name of an extension's service account: the subject of the token in MORTISE_TOKEN, so
 * what the core reports as the writer of the backend's own writes (e.g. in an AdmissionReview).
 */
export const extensionServiceAccount = (extension: string): string => `extension-${extension}`;

/** The header in which the core's gateway forwards the caller's identity (a JWT signed by the core). */
export const IDENTITY_HEADER = 'x-mortise-identity';

/** The environment variables (name → value) for these values; unset ones are left out. */
export function runtimeEnvironment(values: RuntimeEnvironment): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(values) as Array<[RuntimeEnvKey, string | undefined]>) {
    if (value !== undefined) env[RUNTIME_ENV[key].name] = value;
  }
  return env;
}

/** The runtime's values found in an environment (default `process.env`). */
export function readRuntimeEnvironment(env: NodeJS.ProcessEnv = process.env): RuntimeEnvironment {
  const values: RuntimeEnvironment = {};
  for (const [key, { name }] of Object.entries(RUNTIME_ENV) as Array<[RuntimeEnvKey, { name: string }]>) {
    const v = env[name];
    if (v !== undefined && v !== '') values[key] = v;
  }
  return values;
}
