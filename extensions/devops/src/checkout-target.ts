import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

// A checkout of an http(s) URL runs git with the host's network (the only step that has it), so
// the URL must not lead to this machine's own services (the core, backends, the mesh's listeners,
// all on loopback) or the cloud's metadata endpoint (link-local): a pipeline author would reach
// them from inside the platform. The host is resolved here, checked, and git is pinned to that
// address (curl's CURLOPT_RESOLVE) with redirects off, so neither a second resolution (DNS
// rebinding) nor a redirect takes it elsewhere. Private networks stay allowed: that is where
// in-house git servers live.

const forbidden = new BlockList();
forbidden.addSubnet('127.0.0.0', 8, 'ipv4');
forbidden.addSubnet('169.254.0.0', 16, 'ipv4');
forbidden.addSubnet('0.0.0.0', 8, 'ipv4');
forbidden.addAddress('::1', 'ipv6');
forbidden.addAddress('::', 'ipv6');
forbidden.addSubnet('fe80::', 10, 'ipv6');

/** Whether an address is this machine's or link-local (BlockList matches IPv4-mapped IPv6 addresses too). */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  return family === 0 || forbidden.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** On success, git settings (name → value) that hold git to what was checked. */
export type CheckoutTarget = { ok: true; gitConfig: Record<string, string> } | { ok: false; reason: string };

/**
 * Checks an http(s) checkout URL; on success, the git settings that pin it. `allowedHosts`
 * (config `checkoutAllowedHosts`) names hosts the administrator trusts even on such addresses.
 */
export async function checkoutTarget(url: string, allowedHosts: readonly string[], resolve = lookup): Promise<CheckoutTarget> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, reason: `the checkout URL ${JSON.stringify(url)} is not a URL` };
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await resolve(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (e) {
    return { ok: false, reason: `the checkout host ${host} does not resolve: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const trusted = allowedHosts.includes(host.toLowerCase());
  const bad = addresses.find(isForbiddenAddress);
  if (bad !== undefined && !trusted) {
    return { ok: false, reason: `the checkout host ${host} is ${bad}, an address of this machine or a link-local one: not reachable from pipelines unless the administrator lists the host in the config's checkoutAllowedHosts` };
  }
  const gitConfig: Record<string, string> = { 'http.followRedirects': 'false' };
  // A literal address is not resolved again; a name is pinned to the address checked.
  if (!isIP(host)) {
    const pinned = addresses[0]!;
    gitConfig['http.curloptResolve'] = `${host}:${port}:${isIP(pinned) === 6 ? `[${pinned}]` : pinned}`;
  }
  return { ok: true, gitConfig };
}

/** Git settings as environment variables (GIT_CONFIG_COUNT…): no shell quoting of URL parts. */
export function gitConfigEnv(settings: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  const entries = Object.entries(settings);
  entries.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  env.GIT_CONFIG_COUNT = String(entries.length);
  return env;
}
