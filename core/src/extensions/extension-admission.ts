import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ApiError, type StatusCause } from '../api/status.js';
import type { ForwardedIdentities } from '../gateway/forwarded-identity.js';
import type { AdmissionPlugin, AdmissionRequest } from '../registry/resource-service.js';
import type { KubeObject, ResourceStore, Watcher } from '../store/resource-store.js';
import { extensionLabel, extensionsGroup } from '../schemas/extensions.js';

// Validating admission by extensions, in the manner of Kubernetes' ValidatingWebhookConfiguration
// but narrower: an extension's backend validates writes of the objects of its OWN kinds (the
// CRDs its package brought, labelled with its name) and nothing else. The installer creates one
// AdmissionWebhook per extension whose manifest declares `admission.validatePath`.

const webhooksRef = { group: extensionsGroup, resource: 'admissionwebhooks' };
const crdsRef = { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' };

interface WebhookSpec { extension: string; url?: string; path: string; timeoutSeconds?: number; enabled?: boolean }

/** What a backend answers: an AdmissionReview whose `response` allows or refuses. */
interface ReviewAnswer {
  response?: { uid?: string; allowed?: boolean; status?: { code?: number; message?: string; details?: { causes?: StatusCause[] } } };
}

export class ExtensionAdmission {
  /** extension name → its webhook. */
  private readonly webhooks = new Map<string, KubeObject>();
  private watcher?: Watcher;

  constructor(private readonly store: ResourceStore, private readonly identities: Pick<ForwardedIdentities, 'token'>, private readonly logger?: Logger) {}

  async start(): Promise<void> {
    const page = await this.store.list(webhooksRef);
    const byName = new Map<string, string>();
    const put = (o: KubeObject) => {
      const ext = (o.spec as WebhookSpec | undefined)?.extension;
      if (!ext) return;
      byName.set(o.metadata.name!, ext);
      this.webhooks.set(ext, o);
    };
    for (const o of page.items) put(o);
    this.watcher = this.store.watch(webhooksRef, { sinceResourceVersion: page.resourceVersion, cache: true }, (e) => {
      if (e.type === 'DELETED') {
        const ext = byName.get(e.object.metadata.name!);
        if (ext && this.webhooks.get(ext)?.metadata.name === e.object.metadata.name) this.webhooks.delete(ext);
        byName.delete(e.object.metadata.name!);
      } else put(e.object);
    });
  }

  stop(): void {
    this.watcher?.stop();
  }

  /** The plugin for ResourceService.addAdmission. */
  plugin(): AdmissionPlugin {
    return (request) => this.admit(request);
  }

  private async admit({ operation, def, object, old, ctx }: AdmissionRequest): Promise<void> {
    if (def.source !== 'crd' || !ctx.user) return; // the core's own writes are trusted, as by every plugin
    // A status-only write (the extension reporting) changes no rule: not asked.
    if (old && JSON.stringify(old.spec ?? null) === JSON.stringify(object.spec ?? null)) return;
    if (this.webhooks.size === 0) return;
    const crd = await this.store.get({ ...crdsRef, namespace: '', name: `${def.plural}.${def.group}` });
    const extension = crd?.metadata.labels?.[extensionLabel];
    const hook = extension ? this.webhooks.get(extension) : undefined;
    if (!extension || !hook) return;
    const spec = hook.spec as WebhookSpec;
    const name = object.metadata.name ?? '';
    const what = `admission webhook of extension "${extension}"`;
    if (spec.enabled === false) {
      throw new ApiError(503, 'ServiceUnavailable', `${def.kind} "${name}" cannot be validated: the ${what} is disabled with its extension`, { name, group: def.group, kind: def.plural });
    }
    const uid = randomUUID();
    const review = {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: {
        uid, operation,
        kind: { group: def.group, version: def.version, kind: def.kind },
        resource: { group: def.group, version: def.version, resource: def.plural },
        name, namespace: object.metadata.namespace ?? '',
        userInfo: { username: ctx.user.username, groups: ctx.user.groups },
        object, ...(old ? { oldObject: old } : {}),
      },
    };
    let answer: ReviewAnswer;
    try {
      if (!spec.url) throw new Error('it names no backend URL');
      const identity = await this.identities.token({ username: ctx.user.username, groups: ctx.user.groups }, extension);
      const res = await fetch(new URL(spec.path, spec.url.replace(/\/*$/, '/')), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mortise-identity': identity },
        body: JSON.stringify(review),
        signal: AbortSignal.timeout((spec.timeoutSeconds ?? 10) * 1000),
      });
      if (res.status !== 200) throw new Error(`it answered HTTP ${res.status}`);
      answer = (await res.json()) as ReviewAnswer;
      if (typeof answer?.response?.allowed !== 'boolean' || (answer.response.uid !== undefined && answer.response.uid !== uid)) throw new Error('its answer is not an AdmissionReview for this request');
    } catch (e) {
      const why = (e as Error).name === 'TimeoutError' ? `no answer within ${spec.timeoutSeconds ?? 10} s` : (e as Error).message;
      this.logger?.warn({ event: 'admission.webhook-failed', extension, kind: def.kind, err: why }, 'admission webhook failed');
      // Fail closed, as Kubernetes' default failurePolicy: an unchecked rule is never stored.
      throw new ApiError(500, 'InternalError', `failed calling the ${what}: ${why}`, { name, group: def.group, kind: def.plural });
    }
    const r = answer.response!;
    if (r.allowed) return;
    const code = r.status?.code && r.status.code >= 400 && r.status.code < 500 ? r.status.code : 403;
    const causes = (r.status?.details?.causes ?? []).filter((c) => c && typeof c.message === 'string')
      .map((c) => ({ reason: typeof c.reason === 'string' ? c.reason : 'FieldValueInvalid', message: c.message, ...(typeof c.field === 'string' ? { field: c.field } : {}) }));
    const message = `${def.kind}.${def.group} "${name}" is refused by the ${what}: ${r.status?.message ?? 'denied'}`;
    throw new ApiError(code, code === 422 ? 'Invalid' : code === 409 ? 'Conflict' : code === 400 ? 'BadRequest' : 'Forbidden', message, {
      name, group: def.group, kind: def.kind, ...(causes.length ? { causes } : {}),
    });
  }
}
