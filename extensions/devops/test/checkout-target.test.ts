import { describe, expect, it } from 'vitest';
import { checkoutTarget, gitConfigEnv, isForbiddenAddress } from '../src/checkout-target.js';

// What a checkout over http(s) may reach (devops.test.ts runs git against it end to end).

describe('checkout targets', () => {
  it('refuses this machine\'s and link-local addresses in every spelling, and allows the rest', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '0.0.0.0', '169.254.169.254', '::1', '::', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', 'not-an-address']) expect(isForbiddenAddress(a), a).toBe(true);
    for (const a of ['10.0.0.5', '192.168.1.1', '140.82.112.3', '2606:50c0:8000::153', '::ffff:a00:5']) expect(isForbiddenAddress(a), a).toBe(false);
  });

  it('pins a name to the address it checked, refuses a name with any forbidden address, and lets the administrator allow a host', async () => {
    const dns = (addresses: string[]) => (async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))) as never;
    expect(await checkoutTarget('https://git.example/app.git', [], dns(['10.0.0.5']))).toEqual({ ok: true, gitConfig: { 'http.followRedirects': 'false', 'http.curloptResolve': 'git.example:443:10.0.0.5' } });
    expect(await checkoutTarget('http://git.example:8080/app.git', [], dns(['2001:db8::5']))).toMatchObject({ ok: true, gitConfig: { 'http.curloptResolve': 'git.example:8080:[2001:db8::5]' } });
    // One of its addresses is this machine: a second resolution could pick it.
    expect(await checkoutTarget('https://rebind.example/app.git', [], dns(['10.0.0.5', '127.0.0.1']))).toMatchObject({ ok: false, reason: expect.stringContaining('rebind.example is 127.0.0.1') });
    expect(await checkoutTarget('https://git.internal/app.git', ['git.internal'], dns(['127.0.0.1']))).toMatchObject({ ok: true });
    // A literal address is not resolved again: no pin, redirects still off.
    expect(await checkoutTarget('http://10.0.0.5/app.git', [])).toEqual({ ok: true, gitConfig: { 'http.followRedirects': 'false' } });
    expect(await checkoutTarget('http://[::1]:8080/app.git', [])).toMatchObject({ ok: false });
    const unresolvable = async () => { throw Object.assign(new Error('x'), { code: 'ENOTFOUND' }); };
    expect(await checkoutTarget('https://nowhere.example/', [], unresolvable as never)).toEqual({ ok: false, reason: 'the checkout host nowhere.example does not resolve: ENOTFOUND' });
  });

  it('hands git its settings in the environment, not on a shell command line', () => {
    expect(gitConfigEnv({ 'http.followRedirects': 'false', 'http.curloptResolve': 'h;rm -rf /:443:10.0.0.5' })).toEqual({
      GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'http.followRedirects', GIT_CONFIG_VALUE_0: 'false', GIT_CONFIG_KEY_1: 'http.curloptResolve', GIT_CONFIG_VALUE_1: 'h;rm -rf /:443:10.0.0.5',
    });
  });
});
