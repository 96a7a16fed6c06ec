import { extensionServiceAccount, type ExtensionBackend } from '@mortise/extension-sdk/backend';

// Answers the core's AdmissionReview for DevOps kinds (manifest `admission.validatePath`).
// A PipelineRun's `spec.triggeredBy` is what the console and the run's status show as who
// started it, so only this backend may write a name other than the writer's own: it sets the
// console user who pressed Run, `webhook (push)` and `cron (…)`. A user creating a run through
// the API may name themselves or no one, and nobody but the backend may change it afterwards.

interface Review {
  request?: {
    uid: string; operation?: string; kind?: { kind?: string };
    userInfo?: { username?: string };
    object?: { spec?: { triggeredBy?: unknown } };
    oldObject?: { spec?: { triggeredBy?: unknown } };
  };
}

export function registerAdmissionRoute(backend: ExtensionBackend, path: string): void {
  const self = extensionServiceAccount(backend.name);
  backend.router.post(path, (ctx) => {
    const req = (ctx.request.body as Review | undefined)?.request;
    if (!req?.uid || !req.kind?.kind || !req.object) return ctx.throw(400, 'not an AdmissionReview request');
    const refuse = (message: string) => {
      const causes = [{ field: 'spec.triggeredBy', message }];
      ctx.body = {
        apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
        response: { uid: req.uid, allowed: false, status: { code: 422, message: `spec.triggeredBy: ${message}`, details: { causes } } },
      };
    };
    const user = req.userInfo?.username ?? '';
    const by = req.object.spec?.triggeredBy;
    if (req.kind.kind === 'PipelineRun' && user !== self) {
      if (req.operation === 'CREATE' && by !== undefined && by !== user) {
        return refuse(`Forbidden: names who started the run: ${JSON.stringify(user)} or nobody, not ${JSON.stringify(by)} (the console, webhooks and schedules start runs through the DevOps backend, which sets it)`);
      }
      if (req.operation === 'UPDATE' && by !== req.oldObject?.spec?.triggeredBy) {
        return refuse('Forbidden: set when the run is created; it may not be changed');
      }
    }
    ctx.body = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: req.uid, allowed: true } };
  });
}
