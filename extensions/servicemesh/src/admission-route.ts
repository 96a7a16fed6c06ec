import { isObjectName, type ExtensionBackend } from '@mortise/extension-sdk/backend';
import type { MeshState } from './mesh-state.js';
import { meshGroup, meshVersion, plurals, type MeshKind, type MeshService } from './types.js';
import { validateObject } from './validate.js';

// Answers the core's AdmissionReview for the mesh's kinds (manifest `admission.validatePath`):
// 422 with a cause per field for weights that do not add up, unknown versions, regexes that do
// not compile. The service's versions come from the watched cache, or from the core when the
// MeshService is newer than the cache.

interface Review { request?: { uid: string; kind: { kind: string }; namespace: string; object: { spec?: { service?: string } } } }

export function registerAdmissionRoute(backend: ExtensionBackend, state: MeshState, path: string): void {
  backend.router.post(path, async (ctx) => {
    const req = (ctx.request.body as Review | undefined)?.request;
    if (!req?.uid || !req.kind?.kind || !req.object) return ctx.throw(400, 'not an AdmissionReview request');
    const kind = req.kind.kind as MeshKind;
    const respond = (allowed: boolean, causes: Array<{ field: string; message: string }> = []) => {
      ctx.body = {
        apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
        response: { uid: req.uid, allowed, ...(allowed ? {} : { status: { code: 422, message: causes.map((c) => `${c.field}: ${c.message}`).join('; '), details: { causes } } }) },
      };
    };
    if (!(kind in plurals)) return respond(true);
    const service = req.object.spec?.service;
    let versions: string[] | undefined;
    // Only a MeshService name is looked up: the service goes into the core's URL, read with the
    // service account, so a "service" with slashes and dot segments would read (and tell the
    // versions of) another namespace's MeshService. The schema refuses such a value too.
    if (service && !isObjectName(service)) return respond(false, [{ field: 'spec.service', message: `Invalid value: ${JSON.stringify(service)}: the name of a MeshService in this namespace (lowercase letters, digits, "-" and ".")` }]);
    if (service) {
      const cached = state.services.get(`${req.namespace}/${service}`);
      if (cached) versions = cached.spec.versions.map((v) => v.name);
      else {
        const fresh = await backend.core.get<MeshService>(`/apis/${meshGroup}/${meshVersion}/namespaces/${req.namespace}/meshservices/${service}`).catch(() => undefined);
        versions = fresh?.spec.versions.map((v) => v.name);
      }
    }
    const causes = validateObject(kind, req.object.spec ?? {}, (s) => (s === service ? versions : undefined));
    respond(causes.length === 0, causes);
  });
}
