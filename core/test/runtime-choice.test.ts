import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../src/config.js';
import { backendRuntimeOf } from '../src/runtime/runtime-choice.js';
import { backendDnsName, backendKey } from '../src/runtime/runtime.js';

describe('where backends run', () => {
  it("defaults to the mode's runtime, takes MORTISE_RUNTIME as the override, and refuses what cannot work", () => {
    expect(backendRuntimeOf(configFromEnv({}), false)).toBe('process');
    expect(backendRuntimeOf(configFromEnv({ MORTISE_MODE: 'kubernetes' }), true)).toBe('kubernetes');
    expect(backendRuntimeOf(configFromEnv({ MORTISE_MODE: 'kubernetes', MORTISE_RUNTIME: 'process' }), true)).toBe('process');
    expect(() => backendRuntimeOf(configFromEnv({ MORTISE_RUNTIME: 'kubernetes' }), false)).toThrow(/needs MORTISE_MODE=kubernetes/);
    expect(() => configFromEnv({ MORTISE_RUNTIME: 'docker' })).toThrow(/MORTISE_RUNTIME must be "process" or "kubernetes", not "docker"/);
    expect(configFromEnv({ MORTISE_RUNNER_IMAGE: 'registry.example.com/runner:2', MORTISE_CORE_SERVICE_URL: 'http://core.ns.svc' })).toMatchObject({
      runnerImage: 'registry.example.com/runner:2', coreServiceUrl: 'http://core.ns.svc',
    });
  });
});

describe('backend names', () => {
  const label = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

  it('are readable DNS labels for plain versions, and distinct where the mapping could merge two', () => {
    expect(backendKey({ extension: 'hello-world', version: '0.1.0' })).toBe('hello-world@0.1.0');
    expect(backendDnsName({ extension: 'hello-world', version: '0.1.0' })).toBe('hello-world-v0-1-0');
    // Two prereleases that read alike once dots become dashes.
    const a = backendDnsName({ extension: 'shop', version: '1.0.0-rc.1' });
    const b = backendDnsName({ extension: 'shop', version: '1.0.0-rc-1' });
    expect(a).not.toBe(b);
    const long = backendDnsName({ extension: `a${'b'.repeat(70)}`, version: '1.2.3' });
    for (const name of [a, b, long, backendDnsName({ extension: 'x', version: '1.0.0+Build.7' })]) {
      expect(name).toMatch(label);
    }
    expect(long).toHaveLength(63);
  });
});
