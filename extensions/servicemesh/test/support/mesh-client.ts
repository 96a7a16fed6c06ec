import { request } from 'undici';

// Calls through a mesh data plane as the tests make them. undici's request, not fetch: fetch does
// not let a caller set Host, which is how the mesh routes.

export interface MeshAnswer { status: number; version: string | null; fault: string | null; body: string }

/** One request through the data plane at `dataplane`. */
export async function sendThrough(dataplane: string, host: string, headers: Record<string, string> = {}, opts: { path?: string; method?: 'GET' | 'POST'; body?: string } = {}): Promise<MeshAnswer> {
  const res = await request(`${dataplane}${opts.path ?? '/'}`, { method: opts.method ?? 'GET', headers: { host, ...headers }, body: opts.body });
  const body = await res.body.text();
  const h = (n: string) => (res.headers[n] as string | undefined) ?? null;
  return { status: res.statusCode, version: h('x-mesh-version'), fault: h('x-mesh-fault'), body };
}

/** `n` calls of `send`, `concurrency` at a time. */
export async function many<T>(n: number, send: () => Promise<T>, concurrency = 16): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      out.push(await send());
    }
  }));
  return out;
}
