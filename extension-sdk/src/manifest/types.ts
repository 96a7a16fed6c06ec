/**
 * `extension.yaml`, hand-written to match `extensionManifestSchema` (schema.ts).
 * A test checks that the schema's property names and these types agree.
 */

export const MANIFEST_API_VERSION = 'mortise.io/v1alpha1';
export const MANIFEST_KIND = 'Extension';
export const MANIFEST_FILE_NAME = 'extension.yaml';
export const DEFAULT_README = 'README.md';
export const DEFAULT_HEALTH_PATH = '/healthz';

/** A plain string, or a map language tag → text in which `en` is required. */
export type LocalizedText = string | LocalizedTextMap;
export interface LocalizedTextMap {
  en: string;
  [languageTag: string]: string;
}

export interface Provider {
  name: string;
  email?: string;
  url?: string;
}

export interface Engines {
  /** Semver range of Mortise cores this extension runs on, e.g. ">=0.1.0 <1.0.0". */
  mortise: string;
}

/**
 * A Kubernetes RBAC PolicyRule: either a resource rule (apiGroups + resources) or a
 * non-resource rule (nonResourceURLs), never both.
 */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** Exactly one of `entry` (a Node process) or `image` (a container) is set. */
export interface BackendSpec {
  /** Relative path of the process entry in the package, e.g. "dist/server.js". */
  entry?: string;
  /** Container image, e.g. "registry.example.com/devops:1.2.0". */
  image?: string;
  port?: number;
  /** Defaults to "/healthz". */
  healthPath?: string;
  env?: Record<string, string>;
  /**
   * The backend loads native addons (e.g. better-sqlite3). Native code runs outside Node's
   * permission model, so installing such an extension trusts it with the core's OS user.
   */
  nativeAddons?: boolean;
  /**
   * The backend may start child processes (Node's `--allow-child-process`). Its children are not
   * under the runtime's permission model: the backend must confine them itself (the DevOps
   * extension runs steps in bubblewrap). Shown to the administrator in the InstallPlan's status.
   */
  childProcesses?: boolean;
  /**
   * The backend may start worker threads (Node's `--allow-worker`). A thread started as Node
   * starts one by default keeps the backend's permissions; one started with `execArgv` of its
   * own does not, so declaring it trusts the extension as native addons do. Shown to the
   * administrator in the InstallPlan's status.
   */
  workerThreads?: boolean;
  /**
   * Extra ports the backend listens on besides PORT (e.g. a service mesh's data plane). The
   * runtime picks each port and passes them as MORTISE_LISTENERS; the InstallPlan's status lists
   * them for the administrator.
   */
  listeners?: ListenerSpec[];
}

export interface ListenerSpec {
  /** A DNS label, the key in MORTISE_LISTENERS. */
  name: string;
  /** What is served there: shown to the administrator. */
  description: string;
}

/** Validation of the extension's own kinds by its backend (a validating admission webhook). */
export interface AdmissionSpec {
  /** The backend path answering AdmissionReview POSTs, e.g. "/admission/validate". */
  validatePath: string;
  /** How long the core waits for an answer; default 10. */
  timeoutSeconds?: number;
}

export interface FrontendSpec {
  /** Relative path of the module-federation remote entry, e.g. "dist/remoteEntry.js". */
  remoteEntry: string;
  /** The exposed module the console loads, e.g. "./index". */
  exposedModule: string;
  /** Federation container name; defaults to a name derived from the extension name. */
  remoteName?: string;
  /**
   * The directory served to browsers (the frontend's build output), e.g. "dist/ui". Defaults to
   * the directory of `remoteEntry`, which must lie inside it. Nothing else of the package is public
   * but the icon and the screenshots.
   */
  assets?: string;
}

export interface APIServiceSpec {
  /** A DNS-1123 subdomain with at least one dot, e.g. "devops.mortise.io". */
  group: string;
  /** A Kubernetes API version, e.g. "v1alpha1". */
  version: string;
}

export interface ReverseProxyHeaders {
  set?: Record<string, string>;
  remove?: string[];
}

export interface ReverseProxySpec {
  /** Path prefix, e.g. "/proxy/devops/". Under /proxy/ only the extension's own name may follow. */
  prefix: string;
  stripPrefix?: boolean;
  headers?: ReverseProxyHeaders;
}

/**
 * A path prefix reached WITHOUT a Mortise login, proxied to the backend, which must authenticate
 * the caller itself (a git host's HMAC signature, a shared token). Only "/hooks/<name>/...".
 */
export interface WebhookSpec {
  /** e.g. "/hooks/devops/"; ends with "/" and matches whole segments. */
  path: string;
  /** Who calls it and how the backend checks them: shown to the administrator at install. */
  description: string;
}

/**
 * A RoleTemplate the installer creates ("<extension>-<name>", labelled with the extension and
 * the scope) for admins to aggregate into roles. Its rules may only name the extension's own
 * API groups (its CRDs' and APIServices') or what `permissions` already declares.
 */
export interface RoleTemplateSpec {
  /** A DNS label; the RoleTemplate is named "<extension>-<name>". */
  name: string;
  /** The roles it is meant for; defaults to "namespace". */
  scope?: 'namespace' | 'workspace' | 'global';
  displayName: LocalizedText;
  description?: LocalizedText;
  /** Names (in this manifest) of templates this one needs to be useful, e.g. "run" needs "view": the role editor checks them too. */
  dependsOn?: string[];
  /** Resource rules only. */
  rules: PolicyRule[];
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ExtensionManifest {
  apiVersion: typeof MANIFEST_API_VERSION;
  kind: typeof MANIFEST_KIND;
  name: string;
  version: string;
  displayName: LocalizedText;
  description: LocalizedText;
  category: string;
  keywords?: string[];
  provider: Provider;
  /** A relative path in the package or an https URL. */
  icon?: string;
  screenshots?: string[];
  license: string;
  homepage?: string;
  /** Relative path; defaults to "README.md". */
  readme?: string;
  engines: Engines;
  dependencies?: Record<string, string>;
  permissions?: PolicyRule[];
  /** Relative paths of CustomResourceDefinition YAML files in the package. */
  resources?: string[];
  backend?: BackendSpec;
  frontend?: FrontendSpec;
  apiServices?: APIServiceSpec[];
  reverseProxies?: ReverseProxySpec[];
  /** Unauthenticated paths the backend authenticates itself (at most 4). */
  webhooks?: WebhookSpec[];
  /** Named rule sets for the role editor (at most 32). */
  roleTemplates?: RoleTemplateSpec[];
  /** The backend validates writes of the objects of the CRDs in `resources`. */
  admission?: AdmissionSpec;
  /** A JSON Schema (draft-07) for the extension's configuration. */
  configSchema?: JsonObject;
  /** Default configuration; must validate against configSchema. */
  config?: JsonObject;
}

/** One thing wrong with a manifest: a JSON pointer ("/" for the whole document) and a sentence. */
export interface ManifestProblem {
  path: string;
  message: string;
}

export type ManifestValidationResult =
  | { valid: true; errors: ManifestProblem[]; manifest: ExtensionManifest }
  | { valid: false; errors: ManifestProblem[]; manifest?: undefined };
