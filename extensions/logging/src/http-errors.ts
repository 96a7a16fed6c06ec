import type { Context } from 'koa';

/** Answers with a Kubernetes-style Status (Loki's clients read `message`). */
export function fail(ctx: Context, code: number, reason: string, message: string): void {
  ctx.status = code;
  ctx.body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code };
}
