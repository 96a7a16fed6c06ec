import { extensionServiceAccount } from '@mortise/extension-sdk/runtime';
import type { ExtensionManifest } from '@mortise/extension-sdk/manifest';
import type { KubeObject, OwnerReference } from '../store/resource-store.js';
import { extensionLabel, extensionsGroup } from '../schemas/extensions.js';
import { iamGroup } from '../schemas/iam.js';
import { proxyAccessTemplate } from '../gateway/proxy-access.js';

// What an installed extension is made of in the API, derived from its manifest. Every object
// is labelled with the extension and owned by its InstallPlan, so uninstalling (or the garbage
// collector) removes all of it.


export interface DesiredObject {
  group: string;
  plural: string;
  namespace?: string;
  object: KubeObject;
}

export interface ResourceContext {
  manifest: ExtensionManifest;
  owner: OwnerReference;
  enabled: boolean;
  /** The running backend's base URL, when it has one (a disabled extension's routes name none). */
  backendUrl?: string;
}

const meta = (name: string, ctx: ResourceContext, extra: Record<string, unknown> = {}) => ({
  name, labels: { [extensionLabel]: ctx.manifest.name }, ownerReferences: [ctx.owner], ...extra,
});

/** Every plural routeObjects() makes: what switching routes replaces and uninstalling removes. */
export const routePlurals = ['apiservices', 'reverseproxies', 'admissionwebhooks', 'jsbundles', 'extensionentries'] as const;

/** The routes and UI registrations: these flip with enable/disable and move with upgrades. */
export function routeObjects(ctx: ResourceContext): DesiredObject[] {
  const m = ctx.manifest;
  const out: DesiredObject[] = [];
  // Enabled routes need the backend's address; disabled ones are kept without one (the gateway
  // answers 503 saying the extension is disabled, not 404).
  const url = ctx.enabled ? ctx.backendUrl : undefined;
  if (url || !ctx.enabled) {
    for (const api of m.apiServices ?? []) {
      out.push({
        group: extensionsGroup, plural: 'apiservices',
        object: { apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'APIService', metadata: meta(`${api.version}.${api.group}`, ctx), spec: { group: api.group, version: api.version, ...(url ? { url } : {}), enabled: ctx.enabled } },
      });
    }
    (m.reverseProxies ?? []).forEach((p, i) => {
      const directives: Record<string, unknown> = {};
      if (p.stripPrefix) directives.stripPathPrefix = p.prefix.replace(/\/+$/, '');
      if (p.headers?.set) directives.headerUp = p.headers.set;
      if (p.headers?.remove) directives.removeHeaders = p.headers.remove;
      out.push({
        group: extensionsGroup, plural: 'reverseproxies',
        object: {
          apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'ReverseProxy', metadata: meta(i === 0 ? m.name : `${m.name}-${i}`, ctx),
          spec: { matcher: { path: p.prefix }, upstream: url ? { url } : {}, directives, enabled: ctx.enabled },
        },
      });
    });
    // Webhooks: anonymous routes, each exactly the declared prefix (the gateway checks it is under /hooks/<name>/).
    (m.webhooks ?? []).forEach((hook, i) => {
      out.push({
        group: extensionsGroup, plural: 'reverseproxies',
        object: {
          apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'ReverseProxy', metadata: meta(`${m.name}-webhook-${i}`, ctx),
          spec: { matcher: { path: hook.path }, anonymous: true, upstream: url ? { url } : {}, enabled: ctx.enabled },
        },
      });
    });
    // The backend validates writes of the extension's own kinds (extension-admission.ts).
    if (m.admission) {
      out.push({
        group: extensionsGroup, plural: 'admissionwebhooks',
        object: {
          apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'AdmissionWebhook', metadata: meta(m.name, ctx),
          spec: { extension: m.name, ...(url ? { url } : {}), path: m.admission.validatePath, timeoutSeconds: m.admission.timeoutSeconds ?? 10, enabled: ctx.enabled },
        },
      });
    }
  }
  if (m.frontend) {
    out.push({
      group: extensionsGroup, plural: 'jsbundles',
      object: {
        apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'JSBundle', metadata: meta(m.name, ctx),
        spec: {
          remoteName: m.frontend.remoteName ?? m.name.replace(/-/g, '_'),
          // The version in the URL: an upgraded remote is fetched anew, never taken from a cache.
          remoteEntry: `/extensions/${m.name}/assets/${m.frontend.remoteEntry.replace(/^\.?\//, '')}?v=${encodeURIComponent(m.version)}`,
          exposedModule: m.frontend.exposedModule, enabled: ctx.enabled,
        },
      },
    });
    out.push({
      group: extensionsGroup, plural: 'extensionentries',
      object: {
        apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'ExtensionEntry', metadata: meta(m.name, ctx),
        spec: { entries: [{ name: m.name, title: typeof m.displayName === 'string' ? m.displayName : m.displayName.en, enabled: ctx.enabled }] },
      },
    });
  }
  return out;
}

/**
 * Besides what it declared, an extension's service account may fetch its own package from the
 * core (package-routes.ts): the stock runner that runs it in a pod does so with its token.
 */
export const ownPackageRule = (extension: string) => ({ apiGroups: [extensionsGroup], resources: ['extensions/package'], resourceNames: [extension], verbs: ['get'] });

/** The extension's identity: a service account with exactly the permissions it declared (and its own package). */
export function accessObjects(ctx: ResourceContext): DesiredObject[] {
  const m = ctx.manifest;
  const sa = extensionServiceAccount(m.name);
  const out: DesiredObject[] = [
    {
      group: iamGroup, plural: 'users',
      object: { apiVersion: `${iamGroup}/v1alpha1`, kind: 'User', metadata: meta(sa, ctx, { annotations: { 'iam.mortise.io/service-account': 'true' } }), spec: { displayName: `Service account of extension ${m.name}`, groups: ['system:extensions'] } },
    },
    {
      group: iamGroup, plural: 'globalroles',
      object: { apiVersion: `${iamGroup}/v1alpha1`, kind: 'GlobalRole', metadata: meta(sa, ctx), rules: [...(m.permissions ?? []), ownPackageRule(m.name)] },
    },
    {
      group: iamGroup, plural: 'globalrolebindings',
      object: {
        apiVersion: `${iamGroup}/v1alpha1`, kind: 'GlobalRoleBinding', metadata: meta(sa, ctx),
        roleRef: { apiGroup: iamGroup, kind: 'GlobalRole', name: sa }, subjects: [{ kind: 'User', apiGroup: iamGroup, name: sa }],
      },
    },
  ];
  const prefixes = (m.reverseProxies ?? []).map((p) => p.prefix);
  if (prefixes.length) {
    // Logged-in users may reach the extension's proxy paths; the backend decides further.
    const template = proxyAccessTemplate(m.name, prefixes);
    template.metadata = { ...template.metadata, ownerReferences: [ctx.owner] };
    out.push({ group: iamGroup, plural: 'roletemplates', object: template });
  }
  return out;
}
