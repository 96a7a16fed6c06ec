import type { ExtensionBackend } from '@mortise/extension-sdk/backend';
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
