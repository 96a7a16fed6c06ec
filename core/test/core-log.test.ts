import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogBuffer } from '../src/ops/log-buffer.js';
import { call, eventually, login, startTestCore, type TestCore } from './support/test-core.js';

// The core's own log through its API: the recent lines, with times, followed live, only for
// those allowed (list logs.ops.mortise.io at cluster scope), and bad parameters answered with a Status.

const path = '/kapis/ops.mortise.io/v1alpha1/logs';

describe('the core log API', () => {
  let t: TestCore;
  let member: string;

  beforeAll(async () => {
    // A small cap, to see lines rotate away.
    t = await startTestCore({ inMemory: true, logBuffer: new LogBuffer(64 * 1024) });
    const res = await t.api('/apis/iam.mortise.io/v1alpha1/users', { method: 'POST', json: { metadata: { name: 'carol' }, spec: { password: 'carol-Password-9x' } } });
    expect(res.status).toBe(201);
    member = await login(t.url, 'carol', 'carol-Password-9x');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers the recent lines as text, from info up (stdout being silent), with their times on request', async () => {
    t.core.logger.info({ event: 'test.marker', n: 1 }, 'a line for the log API');
    t.core.logger.debug({ event: 'test.debug' }, 'below the kept level');
    const res = await t.api(`${path}?tailLines=1000`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const lines = (await res.text()).trimEnd().split('\n');
    const marker = lines.map((l) => JSON.parse(l) as { event?: string; msg?: string; level?: string }).find((l) => l.event === 'test.marker');
    expect(marker).toMatchObject({ level: 'info', msg: 'a line for the log API' });
    expect(lines.some((l) => l.includes('test.debug'))).toBe(false);

    const stamped = (await (await t.api(`${path}?tailLines=1&timestamps=true`)).text()).trimEnd().split('\n');
    expect(stamped).toHaveLength(1);
    expect(stamped[0]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \{/);
  });

  it('follows new lines until the client goes away', async () => {
    const abort = new AbortController();
    const res = await call(t.url, t.token, `${path}?tailLines=1&follow=true`, { signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const read = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += Buffer.from(value!).toString();
      }
    })();
    await eventually(() => {
      t.core.logger.warn({ event: 'test.followed' }, 'followed');
      return text.includes('test.followed');
    }, 5000, 'the followed line');
    abort.abort();
    await read;
    await eventually(() => t.core.logBuffer.listenerCount('line') === 0, 5000, 'the follower gone');
  });

  it('numbers its lines: a reader resumes after the last number it has, and is told how many lines rotated away', async () => {
    const numbered = async (query: string) => {
      const res = await t.api(`${path}?seq=true&${query}`);
      expect(res.status).toBe(200);
      const lines = (await res.text()).trimEnd().split('\n').filter(Boolean).map((l) => {
        const [, seq, rest] = /^(\d+) (.*)$/.exec(l)!;
        return { seq: Number(seq), entry: JSON.parse(rest!) as { event?: string; n?: number; dropped?: number } };
      });
      return { lines, dropped: res.headers.get('x-mortise-log-dropped') };
    };
    const start = (await numbered('tailLines=1')).lines[0]!.seq;
    for (let n = 1; n <= 3; n++) t.core.logger.info({ event: 'test.resume', n }, 'after the cursor');
    const resumed = await numbered(`sinceSeq=${start}`);
    expect(resumed.dropped).toBeNull();
    expect(resumed.lines.filter((l) => l.entry.event === 'test.resume').map((l) => l.entry.n)).toEqual([1, 2, 3]);
    expect(resumed.lines.every((l, i) => l.seq === start + 1 + i)).toBe(true);

    // More than the 64 KiB cap after the cursor: the oldest of them are gone, and said so.
    for (let n = 1; n <= 1000; n++) t.core.logger.info({ event: 'test.flood', n, pad: 'x'.repeat(60) }, 'flooding the log');
    const late = await numbered(`sinceSeq=${start}`);
    const [marker, ...rest] = late.lines;
    expect(marker!.entry).toMatchObject({ event: 'log.dropped', dropped: Number(late.dropped) });
    expect(Number(late.dropped)).toBeGreaterThan(0);
    expect(marker!.seq).toBe(start + Number(late.dropped));
    expect(rest[0]!.seq).toBe(marker!.seq + 1);
    expect(rest.at(-1)!.entry).toMatchObject({ event: 'test.flood', n: 1000 });
  });

  it('is for those who may list logs.ops.mortise.io at cluster scope, and validates its parameters', async () => {
    const denied = await call(t.url, member, path);
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    for (const q of ['tailLines=-1', 'tailLines=abc', 'follow=maybe', 'timestamps=2', 'sinceSeq=-1', 'sinceSeq=x', 'seq=2']) {
      const res = await t.api(`${path}?${q}`);
      expect(res.status, q).toBe(400);
      expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    }
    // A GlobalRole granting it opens it.
    expect((await t.api('/apis/iam.mortise.io/v1alpha1/globalroles', { method: 'POST', json: { metadata: { name: 'core-log-reader' }, rules: [{ apiGroups: ['ops.mortise.io'], resources: ['logs'], verbs: ['list'] }] } })).status).toBe(201);
    expect((await t.api('/apis/iam.mortise.io/v1alpha1/globalrolebindings', { method: 'POST', json: { metadata: { name: 'carol-reads-core-log' }, roleRef: { apiGroup: 'iam.mortise.io', kind: 'GlobalRole', name: 'core-log-reader' }, subjects: [{ kind: 'User', apiGroup: 'iam.mortise.io', name: 'carol' }] } })).status).toBe(201);
    await eventually(async () => (await call(t.url, member, `${path}?tailLines=1`)).status === 200, 5000, 'carol reads the core log');
  });
});
