import type { KindDefinition } from '../registry/kind.js';
import { defineKind } from './define-kind.js';
import {
  bool, conditions, dateTime, freeform, int, list, localized, obj, objectSchema, str, stringMap, strings,
} from './fragments.js';

export const extensionsGroup = 'extensions.mortise.io';
export const extensionLabel = 'extensions.mortise.io/extension';
const v = 'v1alpha1';
const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' } as const;

const provider = obj({ name: str(), email: str(), url: str() });
const installStates = ['Pending', 'Downloading', 'Installing', 'Installed', 'InstallFailed', 'Upgrading', 'UpgradeFailed', 'Disabled', 'Uninstalling', 'UninstallFailed'];

export const extensionKinds = (): KindDefinition[] => [
  defineKind({
    group: extensionsGroup, version: v, kind: 'Repository', status: true, shortNames: ['repo'],
    schema: objectSchema({
      spec: obj({
        url: str('http(s):// base URL of a repository, or file:// directory for air-gapped sites'),
        description: str(),
        interval: { type: 'string', pattern: '^([0-9]+(ms|s|m|h))+$', description: 'How often to sync, e.g. 10m' },
        trustedKeys: strings('PEM ed25519 public keys; when set, every package must be signed by one of them'),
        credentials: obj({ username: str(), password: str(), bearerToken: str() }),
      }, ['url']),
      status: obj({
        lastSyncTime: dateTime(),
        lastSuccessfulSyncTime: dateTime(),
        observedGeneration: int(),
        extensions: int(),
        conflicts: list(obj({ extension: str(), repository: str() }, ['extension', 'repository']), 'Extensions offered here that another repository provides (the first to offer one keeps it)'),
        conditions,
      }),
    }, ['spec'], 'A marketplace repository synced into Extensions and ExtensionVersions'),
    printerColumns: [{ name: 'URL', type: 'string', jsonPath: '.spec.url' }, { name: 'Last Sync', type: 'date', jsonPath: '.status.lastSyncTime' }, age],
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'Category', plural: 'categories',
    schema: objectSchema({ spec: obj({ displayName: localized(), description: localized(), icon: str() }) }, [], 'A marketplace category'),
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'Extension', status: true, shortNames: ['ext'],
    schema: objectSchema({
      spec: obj({
        displayName: localized(), description: localized(), provider, icon: str(), category: str(),
        keywords: strings(), repository: str(), homepage: str(),
      }),
      status: obj({
        versions: list(obj({ version: str(), yanked: bool(), compatible: bool() })),
        latestVersion: str(),
        recommendedVersion: str('Newest version whose engines.mortise admits this core'),
        installedVersion: str(),
        state: str(),
        conditions,
      }),
    }, [], 'An extension offered by a repository'),
    printerColumns: [{ name: 'Latest', type: 'string', jsonPath: '.status.latestVersion' }, { name: 'Recommended', type: 'string', jsonPath: '.status.recommendedVersion' }, { name: 'Installed', type: 'string', jsonPath: '.status.installedVersion' }, age],
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'ExtensionVersion', status: true,
    schema: objectSchema({
      spec: obj({
        extension: str(), version: str(), displayName: localized(), description: localized(), keywords: strings(),
        category: str(), provider, icon: str(), license: str(), homepage: str(), screenshots: strings(),
        engines: stringMap(), dependencies: stringMap(), digest: str('sha256 hex of the package'), url: str(),
        repository: str(), signature: str(), created: dateTime(), yanked: bool(), yankedReason: str(),
      }, ['extension', 'version']),
      status: obj({ compatible: bool(), conditions }),
    }, [], 'One version of an extension, with where to fetch it and its digest'),
    printerColumns: [{ name: 'Extension', type: 'string', jsonPath: '.spec.extension' }, { name: 'Version', type: 'string', jsonPath: '.spec.version' }, age],
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'InstallPlan', status: true, shortNames: ['ip'],
    schema: objectSchema({
      spec: obj({
        extension: obj({ name: str(), version: str() }, ['name', 'version']),
        enabled: bool('Whether routes and UI are served'),
        config: freeform('Configuration, validated against the extension\'s config schema'),
        purgeOnUninstall: bool('Remove the extension\'s data when the plan is deleted'),
      }, ['extension']),
      status: obj({
        state: { type: 'string', enum: installStates },
        installedVersion: str(),
        targetVersion: str(),
        previousVersion: str('The version that ran before the last upgrade; its unpacked package is kept for rollback'),
        message: str(),
        observedGeneration: int(),
        progress: obj({ step: str(), completed: int(), total: int() }),
        conditions,
        history: list(obj({ time: dateTime(), state: str(), version: str(), message: str() })),
        retriedAt: str('The retry annotation value last acted on'),
        childProcesses: bool('The installed backend may start child processes, which the runtime does not confine (the extension confines them itself)'),
        workerThreads: bool('The installed backend may start worker threads; one started with execArgv of its own runs outside the permission model'),
        webhooks: list(obj({ path: str(), description: str() }), 'Paths of the installed version served WITHOUT a login (its backend authenticates the callers)'),
        listeners: list(obj({ name: str(), description: str(), port: int() }), "Ports the backend listens on besides its own (the manifest's backend.listeners), e.g. a data plane"),
      }),
    }, ['spec'], 'A request to install an extension at a version, enabled or not'),
    printerColumns: [
      { name: 'Version', type: 'string', jsonPath: '.spec.extension.version' },
      { name: 'Enabled', type: 'boolean', jsonPath: '.spec.enabled' },
      { name: 'State', type: 'string', jsonPath: '.status.state' },
      age,
    ],
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'JSBundle',
    status: true,
    schema: objectSchema({
      spec: obj({
        remoteName: str('The module federation remote name'),
        remoteEntry: str('URL (usually under /proxy/...) of the remoteEntry.js'),
        exposedModule: str(),
        enabled: bool(),
      }, ['remoteEntry']),
      status: obj({ state: str(), link: str(), conditions }),
    }, ['spec'], 'A federated UI module the console loads at runtime'),
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'APIService',
    status: true,
    schema: objectSchema({
      spec: obj({
        group: str(), version: str(), url: str('The backend base URL (none while disabled)'), enabled: bool(),
      }, ['group', 'version']),
      status: obj({ state: str(), conditions }),
    }, ['spec'], 'Routes /kapis/{group}/{version}/... to an extension backend'),
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'AdmissionWebhook',
    schema: objectSchema({
      spec: obj({
        extension: str("The extension whose CRDs' objects this validates (its CRDs carry the extensions.mortise.io/extension label)"),
        url: str('The backend base URL (none while disabled)'),
        path: str('The backend path answering AdmissionReview POSTs'),
        timeoutSeconds: int(),
        enabled: bool(),
      }, ['extension', 'path']),
    }, ['spec'], "Asks an extension's backend to validate writes of its own kinds (a validating admission webhook)"),
    printerColumns: [{ name: 'Extension', type: 'string', jsonPath: '.spec.extension' }, { name: 'Path', type: 'string', jsonPath: '.spec.path' }, age],
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'ReverseProxy',
    status: true,
    schema: objectSchema({
      spec: obj({
        matcher: obj({ path: str('Path prefix, e.g. /proxy/devops/'), method: str() }, ['path']),
        anonymous: bool('Served without a Mortise login (a manifest webhook: the backend authenticates the caller). Only honoured under /hooks/<extension>/'),
        upstream: obj({ url: str('The backend base URL (none while disabled)') }),
        directives: obj({
          stripPathPrefix: str(),
          headerUp: stringMap('Headers set on the request to the backend'),
          headerDown: stringMap('Headers set on the response'),
          removeHeaders: strings(),
        }),
        enabled: bool(),
      }, ['matcher']),
      status: obj({ state: str(), conditions }),
    }, ['spec'], 'Routes a path prefix to an extension backend'),
  }),
  defineKind({
    group: extensionsGroup, version: v, kind: 'ExtensionEntry', plural: 'extensionentries',
    schema: objectSchema({ spec: obj({ entries: list(freeform()) }) }, [], 'Console entries (navigation items) an extension contributes'),
  }),
];
