import * as k8s from '@kubernetes/client-node';
import { expect } from 'vitest';

// Small helpers shared by the API tests (client-node 1.x specifics in one place).

export const workspaces = { group: 'tenant.mortise.io', version: 'v1alpha1', plural: 'workspaces' } as const;
export const roles = { group: 'iam.mortise.io', version: 'v1alpha1', plural: 'roles' } as const;

/** client-node 1.x picks application/json-patch+json for CustomObjectsApi patches unless told otherwise. */
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
export const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

export interface StatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  code: number;
  reason?: string;
  message?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: Array<{ reason?: string; message: string; field?: string }> };
}

/** Awaits a client-node call that must fail; returns the HTTP code and the metav1.Status body. */
export async function apiFailure(p: Promise<unknown>, code?: number): Promise<StatusBody> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  if (!err) throw new Error(`expected the call to fail${code ? ` with ${code}` : ''}, it succeeded`);
  if (!(err instanceof k8s.ApiException)) throw err;
  const raw = (err as k8s.ApiException<unknown>).body;
  const body = (typeof raw === 'string' ? JSON.parse(raw) : raw) as StatusBody;
  if (code !== undefined) expect({ code: err.code, body }).toMatchObject({ code, body: { kind: 'Status', code } });
  return body;
}

/** A raw fetch answer that must be a metav1.Status with this code. */
export async function statusOf(res: Response, code: number): Promise<StatusBody> {
  const text = await res.text();
  let body: StatusBody;
  try {
    body = JSON.parse(text) as StatusBody;
  } catch {
    throw new Error(`expected a JSON Status with ${code}, got ${res.status}: ${text.slice(0, 200)}`);
  }
  expect({ status: res.status, body }).toMatchObject({ status: code, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code } });
  expect(typeof body.message).toBe('string');
  return body;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the store's resourceVersion has stood still for `quietMs`: the core's own
 * controllers (workspace roles and status, namespace roles, garbage collection) react to
 * writes in the background, and a test that compares versions must start after them.
 */
export async function settle(store: { currentResourceVersion(): Promise<string> }, quietMs = 150, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = await store.currentResourceVersion();
  let since = Date.now();
  for (;;) {
    await sleep(15);
    const now = await store.currentResourceVersion();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return now;
    }
    if (Date.now() > deadline) throw new Error(`the store kept changing for ${timeoutMs} ms`);
  }
}

/** The fields a 422 names, in order. */
export const causeFields = (s: StatusBody) => (s.details?.causes ?? []).map((c) => c.field);

interface RawTarget {
  api(path: string, init?: RequestInit): Promise<Response>;
  core: { store: { currentResourceVersion(): Promise<string> } };
}

/**
 * Writes of raw text (what no client library would send), and refusals checked to be a
 * Status with the code and to have written nothing (the store's version did not move).
 */
export function rawWrites(target: () => RawTarget) {
  const send = (path: string, method: string, body: string, contentType = 'application/json') =>
    target().api(path, { method, body, headers: { 'content-type': contentType } });
  const refused = async (path: string, method: string, body: string, code: number, contentType?: string): Promise<StatusBody> => {
    const store = target().core.store;
    const rv = await settle(store, 60);
    const s = await statusOf(await send(path, method, body, contentType), code);
    expect(await store.currentResourceVersion()).toBe(rv);
    return s;
  };
  return { send, refused };
}
