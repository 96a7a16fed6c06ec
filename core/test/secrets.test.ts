import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// core/v1 Secret and ConfigMap: kubectl and client-node work on them, Secret data is sealed at
// rest (the database file never holds the plaintext), and reading a list needs `list secrets`.

const run = promisify(execFile);
const plaintext = 'hunter2-very-secret-value';
const iam = '/apis/iam.mortise.io/v1alpha1';

/** Every byte of the data directory's database files (main file and WAL). */
const rawDatabase = (dataDir: string) => Buffer.concat(readdirSync(dataDir).filter((f) => f.startsWith('mortise.db')).map((f) => readFileSync(join(dataDir, f))));

describe('Secrets and ConfigMaps', () => {
  let t: TestCore;
  let dataDir: string;
  const kubectl = async (...args: string[]) => (await run('kubectl', ['--kubeconfig', t.kubeconfigPath, '--cache-dir', join(dataDir, 'kcache'), ...args], { timeout: 30_000 })).stdout;

  beforeAll(async () => {
    t = await startTestCore({ keepDataDir: true });
    dataDir = t.dataDir!;
    expect((await t.api('/api/v1/namespaces', { method: 'POST', json: { metadata: { name: 'creds' } } })).status).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('kubectl create secret generic / get -o yaml round-trips, and the database holds no plaintext', async () => {
    expect(await kubectl('-n', 'creds', 'create', 'secret', 'generic', 'git-token', `--from-literal=token=${plaintext}`)).toContain('secret/git-token created');
    const yaml = await kubectl('-n', 'creds', 'get', 'secret', 'git-token', '-o', 'yaml');
    expect(yaml).toContain(`token: ${Buffer.from(plaintext).toString('base64')}`);
    expect(yaml).toContain('type: Opaque');
    expect(await kubectl('-n', 'creds', 'get', 'secrets')).toMatch(/git-token\s+Opaque/);
    const db = rawDatabase(dataDir);
    expect(db.includes(plaintext)).toBe(false);
    expect(db.includes(Buffer.from(plaintext).toString('base64'))).toBe(false);
    expect(db.includes('mortise:aesgcm:v1:')).toBe(true);
    const keyFile = join(dataDir, 'encryption-keys');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  });

  it('folds stringData into data, validates base64 without echoing the value, and keeps immutable Secrets', async () => {
    const base = '/api/v1/namespaces/creds/secrets';
    const created = await t.api(base, { method: 'POST', json: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook' }, stringData: { hmac: 'webhook-key' }, immutable: true } });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { data: Record<string, string>; stringData?: unknown };
    expect(body.data.hmac).toBe(Buffer.from('webhook-key').toString('base64'));
    expect(body.stringData).toBeUndefined();
    const bad = await t.api(base, { method: 'POST', json: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad' }, data: { key: 'not base64 !!' } } });
    expect(bad.status).toBe(422);
    const status = await bad.text();
    expect(status).toContain('data[key]');
    expect(status).not.toContain('not base64 !!');
    const changed = await t.api(`${base}/hook`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ stringData: { hmac: 'other' } }) });
    expect(changed.status).toBe(422);
    expect(await changed.text()).toContain('immutable');
  });

  it('client-node reads and writes ConfigMaps', async () => {
    const api = t.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await api.createNamespacedConfigMap({ namespace: 'creds', body: { metadata: { name: 'settings' }, data: { 'app.conf': 'level=debug\n' } } });
    const cm = await api.readNamespacedConfigMap({ namespace: 'creds', name: 'settings' });
    expect(cm.data).toEqual({ 'app.conf': 'level=debug\n' });
    const secret = await api.readNamespacedSecret({ namespace: 'creds', name: 'git-token' });
    expect(Buffer.from(secret.data!.token!, 'base64').toString()).toBe(plaintext);
    expect(await kubectl('-n', 'creds', 'get', 'cm', 'settings', '-o', 'jsonpath={.data.app\\.conf}')).toBe('level=debug\n');
    const dup = await t.api('/api/v1/namespaces/creds/configmaps', { method: 'POST', json: { metadata: { name: 'dup' }, data: { a: 'x' }, binaryData: { a: 'eA==' } } });
    expect(dup.status).toBe(422);
  });

  it('a user allowed to get one Secret cannot list them', async () => {
    await t.api(`${iam}/users`, { method: 'POST', json: { apiVersion: 'iam.mortise.io/v1alpha1', kind: 'User', metadata: { name: 'sam' }, spec: { email: 'sam@example.com', password: 'sam-password-1' } } });
    expect((await t.api(`${iam}/namespaces/creds/roles`, { method: 'POST', json: { metadata: { name: 'one-secret' }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['git-token'], verbs: ['get'] }] } })).status).toBe(201);
    expect((await t.api(`${iam}/namespaces/creds/rolebindings`, { method: 'POST', json: { metadata: { name: 'sam-one-secret' }, roleRef: { kind: 'Role', name: 'one-secret' }, subjects: [{ kind: 'User', name: 'sam' }] } })).status).toBe(201);
    const sam = await login(t.url, 'sam', 'sam-password-1');
    await eventually(async () => (await call(t.url, sam, '/api/v1/namespaces/creds/secrets/git-token')).status === 200, 2000, 'the grant');
    expect((await call(t.url, sam, '/api/v1/namespaces/creds/secrets')).status).toBe(403);
    expect((await call(t.url, sam, '/api/v1/namespaces/creds/secrets?watch=true')).status).toBe(403);
    expect((await call(t.url, sam, '/api/v1/namespaces/creds/secrets/hook')).status).toBe(403);
  });

  it('a key rotation re-encrypts every Secret at the next start; the old key can then go', async () => {
    const keyFile = join(dataDir, 'encryption-keys');
    const oldLine = readFileSync(keyFile, 'utf8').trim();
    await t.close();
    writeFileSync(keyFile, `key-rotated ${Buffer.alloc(32, 7).toString('base64')}\n${oldLine}\n`, { mode: 0o600 });
    t = await startTestCore({ dataDir, keepDataDir: true });
    await t.close();
    // Only the new key is left: everything must still decrypt.
    writeFileSync(keyFile, `key-rotated ${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
    t = await startTestCore({ dataDir, keepDataDir: true });
    const secret = (await (await t.api('/api/v1/namespaces/creds/secrets/git-token')).json()) as { data: Record<string, string> };
    expect(Buffer.from(secret.data.token!, 'base64').toString()).toBe(plaintext);
    const db = rawDatabase(dataDir);
    expect(db.includes(`mortise:aesgcm:v1:${oldLine.split(' ')[0]}:`)).toBe(false);
    expect(db.includes(plaintext)).toBe(false);
  });
});
