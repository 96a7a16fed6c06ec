import { aggregateToAuthenticatedLabel } from '../iam/builtin-roles.js';
import { extensionLabel } from '../schemas/extensions.js';
import { iamGroup } from '../schemas/iam.js';
import type { KubeObject } from '../store/resource-store.js';
import { normalizePrefix } from './route-table.js';

/** The verbs of a non-resource request are its lower-cased HTTP methods. */
export const proxyVerbs = ['get', 'head', 'options', 'post', 'put', 'patch', 'delete'];

/**
 * The RoleTemplate that lets every logged-in user reach an extension's reverse-proxy paths
 * (`/proxy/<ext>/...` are non-resource requests to the authorizer): the built-in `authenticated`
 * GlobalRole aggregates templates labelled `iam.mortise.io/aggregate-to-authenticated: "true"`.
 * The extension narrows further itself: it sees who is calling in the forwarded identity.
 * APIService paths are resource requests and need ordinary grants instead.
 */
export function proxyAccessTemplate(extension: string, prefixes: string[]): KubeObject {
  const urls = new Set<string>();
  for (const p of prefixes) {
    const base = normalizePrefix(p);
    if (!base) continue;
    urls.add(base);
    urls.add(`${base}/*`);
  }
  return {
    apiVersion: `${iamGroup}/v1alpha1`,
    kind: 'RoleTemplate',
    metadata: { name: `${extension}-proxy-access`, labels: { [extensionLabel]: extension, [aggregateToAuthenticatedLabel]: 'true' } },
    spec: {
      displayName: `Reach the pages and APIs of extension ${extension}`,
      rules: [{ nonResourceURLs: [...urls], verbs: proxyVerbs }],
    },
  };
}
