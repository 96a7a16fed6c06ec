import Koa from 'koa';
import { createServer } from 'node:http';

// The baseline: a bare koa handler answering a Kubernetes-object-sized JSON body, with no
// routing, auth, validation or storage. Our figures are shown as a ratio of this one's.
const sample = {
  apiVersion: 'tenant.mortise.io/v1alpha1', kind: 'Workspace',
  metadata: { name: 'bench-0', uid: '7f1c2d4e-0000-4000-8000-000000000000', resourceVersion: '1', generation: 1, creationTimestamp: '2026-11-22T00:00:00Z', labels: { bench: 'true' } },
  spec: { manager: 'admin', description: 'a workspace for the benchmark' },
};

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method === 'POST' || ctx.method === 'PATCH') {
    const chunks: Buffer[] = [];
    for await (const c of ctx.req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as object;
    ctx.status = ctx.method === 'POST' ? 201 : 200;
    ctx.body = { ...sample, ...body };
    return;
  }
  ctx.body = ctx.path === '/readyz' ? 'ok' : sample;
});
createServer(app.callback()).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
