import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import type { Logger } from 'pino';
import { apiGroupDocument, apiGroupList, apiVersions, resourceList } from './api/discovery.js';
import { openApiV2, openApiV2Protobuf, openApiV2ProtobufType, openApiV3GroupVersion, openApiV3Root } from './api/openapi.js';
import { ResourceHandler, resourceRouteLabel } from './api/resource-handler.js';
import { hostClusterRouter } from './api/host-cluster-routes.js';
import { notFound } from './api/status.js';
import { WatchHub } from './api/watch-hub.js';
import type { AuditLog } from './audit/audit-log.js';
import { auditRequests } from './audit/audit-middleware.js';
import { auditRouter } from './audit/audit-routes.js';
import { SqliteAuditLog } from './audit/sqlite-audit-log.js';
import { Authenticator } from './auth/authenticator.js';
import { ServiceAccountTokens, serviceAccountTokenRouter, serviceAccountTokensRef, serviceAccountsRef } from './auth/service-account-tokens.js';
import type { Authorizer } from './auth/authorizer.js';
import { bootstrapAdmin } from './auth/bootstrap-admin.js';
import { oauthRouter } from './auth/oauth-routes.js';
import { AuthorizationCodes, ExternalLoginStates } from './auth/authorization-codes.js';
import { externalLoginRouter } from './auth/external-login-routes.js';
import { IdentityProvider, validateIdentityProviders } from './auth/identity-providers.js';
import { LoginRecords } from './auth/login-records.js';
import { LoginThrottle, type LoginThrottleOptions } from './auth/login-throttle.js';
import { userAccountRouter } from './auth/user-account-routes.js';
import { UserTokenRevoker } from './auth/user-token-revoker.js';
import { SigningKeys } from './auth/signing-keys.js';
import { RevokedSessions } from './auth/revoked-sessions.js';
import { TokenService } from './auth/token-service.js';
import { UserDirectory } from './auth/user-directory.js';
import { userStrategy } from './auth/user-strategy.js';
import type { ClusterRole } from './cluster/cluster-role.js';
import type { CoreConfig } from './config.js';
import type { Controller } from './controller/controller.js';
import { CrdController } from './controller/crd-controller.js';
import { GarbageCollector } from './controller/garbage-collector.js';
import { LeaderElector } from './controller/leader-election.js';
import { NamespaceController } from './controller/namespace-controller.js';
import type { AppState } from './http/app-state.js';
import { DualProtocolServer } from './http/dual-protocol-server.js';
import { loadOrCreateServingCerts, type ServingCerts } from './http/serving-certs.js';
import { accessLog, authentication, authorization, errors, requestInfo } from './http/middleware.js';
import { ConsoleFiles, consoleFallback, consoleRouter } from './http/console-routes.js';
import { sessionRouter } from './auth/session-routes.js';
import { healthRouter } from './ops/health.js';
import { createLogger } from './ops/logger.js';
import { DEFAULT_CORE_LOG_BYTES, LogBuffer } from './ops/log-buffer.js';
import { coreLogRouter } from './ops/core-log-routes.js';
import { CoreMetrics, latencyBuckets } from './ops/metrics.js';
import { LabelledCounter } from './ops/labelled-metrics.js';
import { StartPhases } from './ops/start-phases.js';
import { Gateway, type GatewayOptions } from './gateway/gateway.js';
import { gatewayListener } from './gateway/gateway-listener.js';
import { edgeBackendOf, edgeDecision } from './edge/edge-decisions.js';
import { NativeEdge } from './edge/native-edge.js';
import { forgetDecisionsOnChange } from './edge/edge-invalidation.js';
import { safeMethods } from './auth/session-cookies.js';
import { RequestGuard } from './http/request-guard.js';
import { claimedBySpecificRoute, resourceFastPath } from './http/resource-fast-path.js';
import { plainReadListener } from './http/plain-read-listener.js';
import { crdCleanupFinalizer, validateCrd } from './registry/crd.js';
import { KindRegistry } from './registry/kind-registry.js';
import { ResourceService } from './registry/resource-service.js';
import { SchemaValidator } from './registry/schema-validator.js';
import { crdKind, namespaceKind } from './schemas/builtin.js';
import { configMapKind, secretKind } from './schemas/config-data.js';
import { EncryptionKeys } from './store/encryption-keys.js';
import { coreKinds } from './schemas/index.js';
import { iamGroup } from './schemas/iam.js';
import { accessReviewKinds, accessReviewRouter } from './iam/access-review-routes.js';
import { escalationAdmission, rolePlural } from './iam/escalation-admission.js';
import { RbacAuthorizer } from './iam/rbac-authorizer.js';
import { RbacIndex } from './iam/rbac-index.js';
import { seedBuiltinRoles } from './iam/seed-builtin-roles.js';
import { NamespaceRolesController } from './tenant/namespace-roles-controller.js';
import { tenancyAdmission } from './tenant/tenancy-admission.js';
import { tenantMoveAdmission } from './tenant/tenant-move-admission.js';
import { tenantRouter } from './tenant/tenant-routes.js';
import { namespaceCreatorAdmission } from './tenant/namespace-creator-admission.js';
import { workspaceQuotaAdmission } from './tenant/workspace-quota-admission.js';
import { userGrantAdmission } from './iam/user-grant-admission.js';
import { WorkspaceController } from './tenant/workspace-controller.js';
import { RepositoryController } from './extensions/repository-controller.js';
import { extensionAssetRouter } from './extensions/asset-routes.js';
import { extensionSearchRouter } from './extensions/extension-search-routes.js';
import { extensionReadmeRouter } from './extensions/readme-routes.js';
import { packageCacheRouter } from './extensions/package-cache-routes.js';
import { extensionLogRouter } from './extensions/log-routes.js';
import { extensionPackageRouter } from './extensions/package-routes.js';
import { localPackages } from './extensions/local-packages.js';
import { backendRuntimeOf } from './runtime/runtime-choice.js';
import { devRouteRouter } from './extensions/dev-route-routes.js';
import { DevRoutes } from './gateway/dev-routes.js';
import { InstallPlanController } from './extensions/installplan-controller.js';
import { ExtensionAdmission } from './extensions/extension-admission.js';
import { installPlanStrategy } from './extensions/installplan-strategy.js';
import { repositoryStrategy } from './extensions/repository-strategy.js';
import { PackageStore, sdkPackageDir } from './extensions/package-store.js';
import { preparePlatformModules } from './extensions/platform-modules.js';
import { ProcessRuntime } from './runtime/process-runtime.js';
import { KubernetesRuntime } from './runtime/kubernetes-runtime.js';
import type { Runtime } from './runtime/runtime.js';
import { extensionsGroup } from './schemas/extensions.js';
import { workspaceStrategy } from './tenant/workspace-strategy.js';
import type { ResourceStore } from './store/resource-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import { fallbackCheckpointPages, WalCheckpointer } from './store/wal-checkpointer.js';
import type { KubeClient } from './store/kube/kube-client.js';
import { internalGroup } from './auth/internal-kinds.js';
import { coreVersion } from './version.js';

export interface CoreOptions extends Partial<CoreConfig> {
  logger?: Logger;
  /** The core's recent log lines (GET /kapis/ops.mortise.io/v1alpha1/logs); a given `logger` should write to it. */
  logBuffer?: LogBuffer;
  /** Swap the store (the kubernetes mode brings its own). */
  store?: ResourceStore;
  /**
   * Swap the authorizer (default: RBAC over the store's roles and bindings). It decides every
   * request, access review, tenant view and escalation check.
   */
  authorizer?: Authorizer;
  /** Swap the audit log (default: SQLite, in the data dir's database). */
  audit?: AuditLog;
  /** Tune the throttling of failed logins (in memory, per process). */
  loginThrottle?: LoginThrottleOptions;
  /** Where extension backends run (default: child processes). */
  runtime?: Runtime;
  /** How long an extension backend may take to become ready (default 60 s). */
  backendReadyTimeoutMs?: number;
  /** Timeouts and connection pools of the gateway to extension backends. */
  gateway?: GatewayOptions;
  /** The built console (default: core/console/dist). */
  consoleDir?: string;
  /** A process of a multi-process core (MORTISE_WORKERS ≥ 2): the primary or a serving worker (core/src/cluster). */
  cluster?: ClusterRole;
}

export interface Core {
  readonly app: Koa<AppState>;
  readonly store: ResourceStore;
  readonly kinds: KindRegistry;
  readonly service: ResourceService;
  readonly tokens: TokenService;
  readonly logger: Logger;
  /** The core's recent log lines, served by the core log API. */
  readonly logBuffer: LogBuffer;
  readonly metrics: CoreMetrics;
  readonly watches: WatchHub;
  readonly router: Router<AppState>;
  /** Every mutating request and every denial (GET /kapis/audit.mortise.io/v1alpha1/events). */
  readonly audit: AuditLog;
  /** Proxies APIService and ReverseProxy routes to extension backends (`setHealthSource` takes the runtime's view). */
  readonly gateway: Gateway;
  /** Where extension backends run. */
  readonly runtime: Runtime;
  /** Who is calling and whether they may: the checks every listener of the core asks. */
  readonly guard: RequestGuard;
  /** The admin password when this start generated it (printed once). */
  readonly generatedAdminPassword?: string;
  /** The serving certificates (the CA goes in a kubeconfig's certificate-authority-data). */
  readonly certs: ServingCerts;
  url: string;
  /** The same port over TLS (what kubectl needs to send credentials). */
  readonly httpsUrl: string;
  /** The native edge's URL, when it runs (`edge`, docs/edge.md). */
  readonly edgeUrl?: string;
  /** Resolves once the native edge (if any) holds every change made so far (writes through the API wait for it themselves). */
  edgeSettled(): Promise<void>;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export const consoleClientId = 'mortise-console';
/** The core's namespace in a cluster when MORTISE_NAMESPACE does not say. */
export const defaultCoreNamespace = 'mortise-system';
export const knownClients = [consoleClientId, 'mortise-cli', 'kubectl', 'mortise-extension'];

/** The composition root: every part of the core is built and wired here, in view. */
export async function createCore(opts: CoreOptions = {}): Promise<Core> {
  const start = new StartPhases();
  const logBuffer = opts.logBuffer ?? new LogBuffer();
  // The core's log survives restarts in the data dir, within its cap (docs/operations.md).
  // A serving worker's lines stay in memory (and on standard output): the files are the primary's.
  if (opts.dataDir && !logBuffer.directory && opts.cluster?.role !== 'worker') logBuffer.persistTo(join(opts.dataDir, 'logs', 'core'), opts.logFiles?.coreMaxBytes ?? DEFAULT_CORE_LOG_BYTES);
  const logger = opts.logger ?? createLogger({ level: opts.logLevel, buffer: logBuffer });
  // Made in the thread pool on a first start while the rest of the core is built.
  const servingCerts = loadOrCreateServingCerts(opts.dataDir, opts.host && opts.host !== '0.0.0.0' ? [opts.host] : []);
  servingCerts.catch(() => undefined);
  const metrics = new CoreMetrics();
  const kubernetes = opts.mode === 'kubernetes';
  const kinds = new KindRegistry();
  let store = opts.store;
  let client: KubeClient | undefined;
  if (!store && kubernetes) {
    // The cluster's API server is the store: the core's kinds are its CRDs (docs/kubernetes.md).
    // Loaded only in this mode: the cluster client brings undici, which replaces the process's
    // global fetch dispatcher when it loads.
    const [{ KubeClient }, { KubeStore, servedAs }, { applyCoreCrds, ensureNamespace }] = await Promise.all([
      import('./store/kube/kube-client.js'), import('./store/kube/kube-store.js'), import('./store/kube/cluster-setup.js'),
    ]);
    client = await KubeClient.connect({ kubeconfig: opts.kubeconfig });
    await ensureNamespace(client, opts.namespace ?? defaultCoreNamespace);
    await applyCoreCrds(client);
    store = new KubeStore({
      client, servedAs: (ref) => servedAs(kinds, ref), internalGroup, namespace: opts.namespace ?? defaultCoreNamespace,
      // A cache that lost the cluster's history would serve (and authorize by) a stale view: the
      // process stops (SIGTERM: a clean shutdown) and its Deployment starts it again, caches rebuilt.
      onWatchLost: (ref, e) => {
        logger.error({ event: 'store.watch-lost', group: ref.group, resource: ref.resource, err: e.message }, 'a cache of the core lost the cluster\'s history; stopping so that a restart rebuilds it');
        process.kill(process.pid, 'SIGTERM');
      },
    });
  }
  /** The SQLite file this core made its store on (embedded mode with a data dir). */
  let ownDbFile: string | undefined;
  if (!store) {
    if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
    if (opts.dataDir) ownDbFile = join(opts.dataDir, 'mortise.db');
    // Secrets are sealed with AES-256-GCM; the key file lives beside the database (docs/security.md).
    const codec = opts.dataDir ? EncryptionKeys.loadOrCreate(join(opts.dataDir, 'encryption-keys')) : EncryptionKeys.ephemeral();
    store = new SqliteStore({
      path: opts.dataDir ? join(opts.dataDir, 'mortise.db') : ':memory:', eventRetention: opts.eventRetention,
      encrypted: { resources: ['/secrets'], codec },
    });
  }
  start.mark('store');
  // A serving worker writes nothing itself: the primary bootstraps, runs the controllers and writes the audit log.
  const worker = opts.cluster?.role === 'worker' ? opts.cluster : undefined;
  const primary = opts.cluster?.role === 'primary' ? opts.cluster : undefined;
  const audit = worker?.audit ?? opts.audit ?? new SqliteAuditLog({ path: opts.dataDir ? join(opts.dataDir, 'mortise.db') : ':memory:', retention: opts.auditRetention, logger });
  // The file's WAL checkpoints run on a thread of their own, not inside the writers' commits.
  let checkpointer: WalCheckpointer | undefined;
  if (ownDbFile && store instanceof SqliteStore) {
    checkpointer = new WalCheckpointer(ownDbFile);
    store.setAutoCheckpoint(fallbackCheckpointPages);
    if (audit instanceof SqliteAuditLog) audit.setAutoCheckpoint(fallbackCheckpointPages);
  }
  const validator = new SchemaValidator();
  const service = new ResourceService(store, kinds, validator);

  kinds.register(namespaceKind());
  kinds.register(secretKind());
  kinds.register(configMapKind());
  for (const def of coreKinds({ user: userStrategy, workspace: workspaceStrategy })) kinds.register(def);
  for (const def of accessReviewKinds()) kinds.register(def);
  const crdDef = crdKind({
    prepareForCreate(o) {
      o.metadata.finalizers = [...new Set([...(o.metadata.finalizers ?? []), crdCleanupFinalizer])];
    },
    validate: (o) => validateCrd(o, validator, (group, plural) => kinds.byGroupResource(group, plural)?.source === 'builtin'),
  });
  kinds.register(crdDef);
  start.mark('kinds');

  let url = '';
  const issuer = () => opts.issuer ?? url;
  const keys = new SigningKeys(store);
  // A first start makes its keys (P-256, Ed25519) while the rest is built; nothing signs or
  // verifies a token before the core listens.
  const keysLoaded = keys.load();
  keysLoaded.catch(() => undefined);
  const revokedSessions = new RevokedSessions(store);
  await revokedSessions.start();
  const tokens = new TokenService(keys, store, {
    issuer, clients: knownClients, accessTokenTtlSeconds: opts.accessTokenTtlSeconds, refreshTokenTtlSeconds: opts.refreshTokenTtlSeconds, revokedSessions,
  });
  const users = new UserDirectory(store);
  await users.start();
  start.mark('users');
  const serviceAccountTokens = new ServiceAccountTokens(store);
  const authenticator = new Authenticator(tokens, users, serviceAccountTokens);
  const rbacIndex = new RbacIndex(store);
  await rbacIndex.start();
  start.mark('rbac-index');
  const rbac = new RbacAuthorizer(rbacIndex);
  const authorizer = opts.authorizer ?? rbac;
  const guard = new RequestGuard(authenticator, authorizer);
  const gateway = new Gateway({ store, tokens, authenticator, authorizer, audit, registry: metrics.registry, logger, groupsOf: (u) => rbacIndex.groupsOf(u.username, u.groups) }, opts.gateway);
  await gateway.start();
  start.mark('gateway');
  // Who may move an object between tenants is decided before anything reveals the destination.
  service.addAdmission(tenantMoveAdmission(authorizer, store, kinds));
  service.addAdmission(tenancyAdmission(store));
  service.addAdmission(namespaceCreatorAdmission());
  service.addAdmission(workspaceQuotaAdmission(authorizer));
  service.addAdmission(userGrantAdmission(authorizer, rbacIndex));
  service.addAdmission(escalationAdmission(authorizer, rbacIndex, (kind, name, namespace) =>
    service.getStored(kinds.byGroupResource(iamGroup, rolePlural[kind])!, kind === 'Role' ? namespace ?? '' : '', name)));
  // Last: an extension's backend sees only writes the core's own checks let through.
  const extensionAdmission = new ExtensionAdmission(store, gateway.identities, logger.child({ component: 'admission' }));
  await extensionAdmission.start();
  start.mark('extension-admission');
  service.addAdmission(extensionAdmission.plugin());
  // Logins: failed-login throttling (in memory), per-user login records, external identity providers.
  const loginThrottle = new LoginThrottle(opts.loginThrottle);
  const loginRecords = new LoginRecords(store, logger);
  const identityProviders = validateIdentityProviders(opts.identityProviders ?? []).map((p) => new IdentityProvider(p));
  const codes = new AuthorizationCodes(store, tokens, users, logger);

  const watches = new WatchHub(service, { bookmarkIntervalMs: opts.bookmarkIntervalMs });
  // What is authorized is what is served for as long as a watch is open: when a binding, role,
  // group, namespace label, user or session changes, each open watch's request is authenticated
  // and authorized again, and ends if it no longer would be.
  const resources = new ResourceHandler(kinds, service, watches, (user, info) => guard.authorize(user, info), (ctx) => () => guard.stillAllows(ctx.req.headers, 'GET', ctx.state.requestInfo));
  // And what the gateway keeps open on one request's authorization: websocket tunnels, streamed answers.
  const revalidate = () => {
    watches.revalidate();
    gateway.revalidate();
  };
  rbacIndex.onChange(revalidate);
  users.onChange(revalidate);
  revokedSessions.onChange(revalidate);
  // A service account's token revoked (deleted) or the account deleted: the same for its watches.
  const credentialsSince = await store.currentResourceVersion();
  const credentialWatchers = [serviceAccountTokensRef, serviceAccountsRef].map((ref) => store.watch(ref, { sinceResourceVersion: credentialsSince, cache: true }, revalidate));

  // In a cluster, CRD status and cleanup, garbage collection and namespace deletion are the cluster's own.
  const crdController = new CrdController(service, kinds, crdDef, logger, { clusterManaged: kubernetes || !!worker });
  await crdController.loadAll();
  start.mark('crds');
  const controllers: Controller[] = [
    crdController, ...(kubernetes ? [] : [new GarbageCollector(service, kinds, logger), new NamespaceController(service, kinds, logger)]),
    new WorkspaceController(service, kinds, logger), new NamespaceRolesController(service, kinds, logger),
    new RepositoryController(service, kinds, coreVersion().mortiseVersion, logger),
  ];
  // Extensions: packages on disk, backends in the runtime, the InstallPlan state machine.
  kinds.byGroupResource(extensionsGroup, 'installplans')!.strategy = installPlanStrategy;
  kinds.byGroupResource(extensionsGroup, 'repositories')!.strategy = repositoryStrategy;
  // Without a data dir, a temp dir of this core's own, removed when it closes.
  const ownTempRoot = opts.dataDir ? undefined : mkdtempSync(join(tmpdir(), 'mortise-extensions-'));
  const extensionsRoot = ownTempRoot ?? join(opts.dataDir!, 'extensions');
  const packages = new PackageStore(extensionsRoot);
  // Staged in the background once the core listens (copying takes a while on a first start).
  let staged: Promise<string> | undefined;
  const stopStaging = new AbortController();
  const platformModules = () => (staged ??= preparePlatformModules(sdkPackageDir(), packages.unpackedRoot, undefined, stopStaging.signal).catch((e: unknown) => {
    staged = undefined;
    throw e;
  }));
  const runtimeKind = backendRuntimeOf(opts, !!client);
  const runtime: Runtime = opts.runtime ?? (client && runtimeKind === 'kubernetes'
    ? new KubernetesRuntime({ client, logger: logger.child({ component: 'runtime' }), runnerImage: opts.runnerImage })
    : new ProcessRuntime({
      logger: logger.child({ component: 'runtime' }), stateDir: extensionsRoot, locatePackage: localPackages(packages, platformModules),
      logDir: opts.dataDir ? join(opts.dataDir, 'logs', 'backends') : undefined, logMaxBytes: opts.logFiles?.backendMaxBytes,
    }));
  // Backends reach the core where they run: on loopback as processes, through its Service in a cluster.
  const backendCoreUrl = () => (runtime instanceof KubernetesRuntime ? opts.coreServiceUrl ?? `http://mortise-core.${opts.namespace ?? defaultCoreNamespace}.svc:80` : url);
  // A process backend also serves on a Unix socket (BackendStatus.socketPath): the gateway and the
  // edge send its requests there rather than over loopback TCP.
  const backendSockets = () => runtime.list().flatMap((b) => (b.socketPath && b.url ? [{ url: new URL(b.url), socketPath: b.socketPath }] : []));
  gateway.setBackendSockets((origin) => backendSockets().find((b) => b.url.origin === origin)?.socketPath);
  gateway.setHealthSource((extension) => {
    const backends = runtime.list().filter((b) => b.extension === extension && b.state !== 'Stopped');
    if (backends.length === 0 || backends.some((b) => b.state === 'Ready')) return { healthy: true };
    const b = backends[backends.length - 1]!;
    return { healthy: false, message: `${b.state}${b.message ? `: ${b.message}` : ''}` };
  });
  controllers.push(new InstallPlanController({
    service, kinds, runtime, packages, tokens, coreVersion: coreVersion().mortiseVersion, coreUrl: backendCoreUrl, issuer, logger,
    readyTimeoutMs: opts.backendReadyTimeoutMs, packageCacheMaxBytes: opts.packageCacheMaxBytes,
  }));
  controllers.push(new UserTokenRevoker(service, kinds.byGroupResource(iamGroup, 'users')!, tokens, logger, loginRecords));
  let ready = false;
  // Several replicas on one cluster: every one serves, the holder of a Lease runs the controllers.
  const elector = client && new LeaderElector({
    client, namespace: opts.namespace ?? defaultCoreNamespace, name: 'mortise-controllers',
    identity: opts.replicaIdentity ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    leaseDurationSeconds: opts.leaseDurationSeconds, logger,
    onStartedLeading: async () => {
      for (const c of controllers) await c.start();
    },
    onStoppedLeading: async () => {
      for (const c of controllers) await c.stop();
    },
  });

  // Independent writes, together: the store commits concurrent creates in one transaction, and
  // the admin's password hash runs in the thread pool meanwhile. A serving worker writes nothing.
  const nsDef = kinds.byGroupResource('', 'namespaces')!;
  const [generatedAdminPassword] = worker ? [undefined] : await Promise.all([
    bootstrapAdmin(service, kinds, opts.adminPassword, logger),
    seedBuiltinRoles(service, kinds),
    // Kubernetes clients default to the "default" namespace.
    (async () => {
      if (!(await service.getStored(nsDef, '', 'default'))) await service.create(nsDef, '', { metadata: { name: 'default' } }, {});
    })(),
  ]);
  start.mark('seed');

  // Routes.
  const router = new Router<AppState>();
  router.use(healthRouter({ store, isReady: () => ready }).routes());
  router.use(accessReviewRouter(authorizer).routes());
  router.use(serviceAccountTokenRouter(serviceAccountTokens).routes());
  router.use(extensionAssetRouter({ service, kinds, packages }).routes());
  router.use(extensionSearchRouter({ service, kinds }).routes());
  router.use(extensionReadmeRouter({ service, kinds, packages, logger }).routes());
  router.use(packageCacheRouter({ service, kinds, packages, maxBytes: opts.packageCacheMaxBytes }).routes());
  router.use(extensionLogRouter({ service, kinds, runtime }).routes());
  router.use(extensionPackageRouter({ service, kinds, packages, logger }).routes());
  router.use(coreLogRouter(logBuffer).routes());
  const devRoutes = new DevRoutes();
  router.use(devRouteRouter(devRoutes).routes());
  router.use(tenantRouter({ service, kinds, authorizer, index: rbacIndex }).routes());
  router.use(auditRouter(audit).routes());
  router.use(hostClusterRouter(client, { identity: opts.hostClusterIdentity, prefix: opts.hostClusterPrefix }).routes());
  const oauthDeps = {
    tokens, keys, users, service, kinds, issuer, defaultClientId: consoleClientId, logger,
    loginGuard: loginThrottle, loginRecords, codeGrant: identityProviders.length ? codes : undefined,
  };
  router.use(oauthRouter(oauthDeps).routes());
  router.use(sessionRouter({ ...oauthDeps, store, providers: identityProviders }).routes());
  const consoleFiles = new ConsoleFiles(opts.consoleDir);
  router.use(consoleRouter(consoleFiles).routes());
  router.use(externalLoginRouter({
    providers: identityProviders, service, kinds, users, codes, states: new ExternalLoginStates(store), loginRecords,
    clients: knownClients, defaultClientId: consoleClientId, issuer, logger,
  }).routes());
  router.use(userAccountRouter({ service, kinds, tokens, authorizer, loginRecords, loginGuard: loginThrottle, defaultClientId: consoleClientId, logger }).routes());
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    metrics.watches.set(watches.size);
    ctx.body = primary ? await primary.metricsText() : await metrics.registry.metrics() + (await edge?.metricsText() ?? '');
  });
  router.get('/version', (ctx) => {
    ctx.body = coreVersion();
  });
  router.get('/api', (ctx) => {
    ctx.body = apiVersions(`${ctx.hostname}:${ctx.URL.port || 80}`);
  });
  router.get('/apis', (ctx) => {
    ctx.body = apiGroupList(kinds);
  });
  router.get('/api/v1', (ctx) => {
    ctx.body = resourceList(kinds, '', 'v1');
  });
  router.get('/apis/:group', (ctx) => {
    ctx.body = apiGroupDocument(kinds, ctx.params.group!) ?? (() => { throw notFound(ctx.params.group!, ''); })();
  });
  router.get('/apis/:group/:version', (ctx) => {
    ctx.body = resourceList(kinds, ctx.params.group!, ctx.params.version!) ?? (() => { throw notFound(ctx.params.group!, ''); })();
  });
  router.get('/openapi/v2', (ctx) => {
    if (/protobuf/.test(ctx.get('accept')) && !/json/.test(ctx.get('accept'))) {
      ctx.type = openApiV2ProtobufType;
      ctx.body = openApiV2Protobuf();
      return;
    }
    ctx.body = openApiV2(kinds);
  });
  router.get('/openapi/v3', (ctx) => {
    ctx.body = openApiV3Root(kinds);
  });
  router.get('/openapi/v3/api/:version', (ctx) => {
    ctx.body = openApiV3GroupVersion(kinds, '', ctx.params.version!) ?? (() => { throw notFound('', ''); })();
  });
  router.get('/openapi/v3/apis/:group/:version', (ctx) => {
    ctx.body = openApiV3GroupVersion(kinds, ctx.params.group!, ctx.params.version!) ?? (() => { throw notFound(ctx.params.group!, ''); })();
  });
  const resourcePaths = ['/api/v1/{*rest}', '/apis/:group/:version/{*rest}'];
  for (const path of resourcePaths) router.all(path, resources.handle);

  const app = new Koa<AppState>();
  app.proxy = false;
  app.silent = true;
  // The native edge answers from decisions it must forget before a write that changes them is acknowledged.
  const edge = opts.edge ? new NativeEdge(opts.edge) : undefined;
  if (edge) forgetDecisionsOnChange(edge.epoch, { store, kinds, runtime, devRoutes, gateway, multiProcess: !!opts.cluster });
  if (edge) {
    app.use(async (ctx, next) => {
      await next();
      if (!safeMethods.has(ctx.method)) await edge.epoch.settled();
    });
  }
  // The pipeline, in order: nothing reaches a handler unauthenticated or unauthorized.
  // (Requests to extension backends take the gateway's own listener, in front of koa: same checks.)
  // Audit first, around `errors`: it must see the code the client gets (a denial is an exception until `errors`).
  app.use(auditRequests(audit, logger));
  // The access log wraps `errors` too, so metrics count the code the client got.
  app.use(accessLog(logger, metrics, (info) => {
    const def = kinds.lookup(info.apiGroup, info.apiVersion, info.resource);
    return def ? resourceRouteLabel(info, def) : undefined;
  }));
  app.use(errors(logger));
  app.use(consoleFallback(consoleFiles));
  app.use(requestInfo());
  app.use(authentication(guard));
  app.use(authorization(guard));
  app.use(resourceFastPath(router, resourcePaths, resources.handle));
  app.use(router.routes());
  app.use(router.allowedMethods());

  start.mark('routes');
  const [certs] = await Promise.all([servingCerts, keysLoaded]);
  start.mark('keys-and-certs');
  let server: DualProtocolServer | undefined;
  let stageTimer: NodeJS.Timeout | undefined;
  let httpsUrl = '';

  const core: Core = {
    get edgeUrl() {
      return edge?.url;
    },
    edgeSettled: () => edge?.epoch.settled() ?? Promise.resolve(),
    app, store, kinds, service, tokens, logger, logBuffer, metrics, watches, router, generatedAdminPassword, certs, audit, gateway, runtime, guard,
    get httpsUrl() {
      return httpsUrl;
    },
    get url() {
      return url;
    },
    set url(v: string) {
      url = v;
    },
    async listen() {
      // In front of koa: the gateway's routes, then the plain GET of an object or a collection (its successes only: plain-read-listener.ts).
      // (Not with a store that keeps no JSON text, kubernetes mode's: every read would be handed on.)
      const reads = store.getRaw
        ? plainReadListener({ kinds, service, guard, metrics, logger, claimedElsewhere: claimedBySpecificRoute(router, resourcePaths) }, app.callback())
        : app.callback();
      const front = gatewayListener({ gateway, guard, audit, metrics, logger, devRoutes }, reads);
      server = new DualProtocolServer(worker ? worker.primaryRoutes(front) : front, certs);
      server.onUpgrade(gateway.upgradeHandler(app.callback()));
      const addr = await server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1');
      start.mark('listen');
      if (edge) {
        const edgeDecisions = new LabelledCounter('mortise_edge_decisions_total', 'Decisions the core made for the native edge: answered by the edge itself, or passed to the core', ['answer'], metrics.registry);
        await edge.start({
          front, upgrade: gateway.upgradeHandler(app.callback()), audit, logger: logger.child({ component: 'edge' }), buckets: latencyBuckets,
          decide: async (method, uri, headers) => {
            const decision = await edgeDecision({ gateway, guard, devRoutes, epoch: () => edge.epoch.value }, method, uri, headers);
            edgeDecisions.inc({ answer: decision === undefined ? 'core' : 'edge' });
            return decision;
          },
          timedOut: (method, url) => gateway.timedOut(method, url),
          backends: () => gateway.routes.routes().flatMap((r) => (r.upstream ? [edgeBackendOf(r.upstream)?.address ?? ''] : [])).filter(Boolean),
          sockets: () => new Map(backendSockets().flatMap((b) => {
            const address = edgeBackendOf(b.url)?.address;
            return address ? [[address, b.socketPath] as const] : [];
          })),
          connectTimeoutMs: opts.gateway?.connectTimeoutMs ?? 5_000, responseTimeoutMs: opts.gateway?.responseTimeoutMs ?? 60_000,
        });
        start.mark('edge');
      }
      const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
      url = `http://${host}:${addr.port}`;
      httpsUrl = `https://${host}:${addr.port}`;
      // The primary listens on loopback for its workers only; clients know the workers' port.
      primary?.listening(url);
      const advertised = primary?.advertised();
      if (advertised) ({ url, httpsUrl } = advertised);
      if (elector) elector.start();
      else await Promise.all((worker ? [crdController] : controllers).map((c) => c.start()));
      start.mark('controllers');
      ready = true;
      logger.info({ event: 'core.started', ...start.summary() }, 'ready');
      // A moment after the first requests (checking the staged copy reads the SDK's whole tree);
      // an install before then stages them itself.
      if (!worker) stageTimer = setTimeout(() => platformModules().catch((e: Error) => logger.error({ event: 'platform-modules.failed', err: e.message }, 'could not stage the platform modules')), 500).unref();
      logger.info({ event: 'core.listening', url, dataDir: opts.dataDir ?? ':memory:', version: coreVersion().gitVersion }, `Mortise core listening on ${url}`);
      return url;
    },
    async close() {
      ready = false;
      clearTimeout(stageTimer);
      await edge?.stop();
      // Stop taking new connections, end watches cleanly (their clients hang up), let in-flight requests finish.
      server?.stopAccepting();
      await watches.closeAll();
      gateway.closeUpgraded();
      await server?.close(opts.shutdownTimeoutMs ?? 10_000);
      gateway.stop();
      extensionAdmission.stop();
      if (elector) await elector.stop();
      else for (const c of worker ? [crdController] : controllers) await c.stop();
      await runtime.stopAll();
      rbacIndex.stop();
      for (const w of credentialWatchers) w.stop();
      users.stop();
      revokedSessions.stop();
      keys.stop();
      // Before the writers: the last connection to close checkpoints the WAL into the file.
      await checkpointer?.close();
      await audit.close();
      await store.close();
      // A staging of the platform modules in progress stops (between two files) and ends first:
      // it writes into the data dir, and whoever removes that dir after close must not see it come back.
      stopStaging.abort();
      await staged?.catch(() => undefined);
      if (ownTempRoot) rmSync(ownTempRoot, { recursive: true, force: true });
      logger.info({ event: 'core.stopped' }, 'Mortise core stopped');
      logBuffer.close();
    },
  };
  return core;
}
