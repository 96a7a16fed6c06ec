import { isIPv6 } from 'node:net';
import { ApiError } from '../api/status.js';
import type { LoginGuard } from './oauth-routes.js';

// Throttling of failed logins (password grant and self-service password changes).
//
// Two budgets, both in memory (the embedded mode is one process; replicas of the kubernetes
// mode each keep their own, which only multiplies the budget by the replica count):
//
// - per (username, source address): a few free failures, then an exponentially growing wait
//   between attempts (1 s, 2 s, 4 s, ... capped). A success clears it; so does a quiet window.
// - per source address, across all usernames: a cap on failures in a sliding window, against
//   password spraying.
//
// Nothing here is a lockout: every wait expires by itself, and failures from one address never
// slow down the same user logging in from another address. That is why the throttle never sets
// a User's `status.state` (AuthLimitExceeded): an attacker could use that to lock anyone out.

export interface LoginThrottleOptions {
  /** Failures of one (username, address) allowed without any wait. */
  freeFailures?: number;
  /** The first wait once the free failures are used; doubles with every further failure. */
  baseDelayMs?: number;
  /** The longest wait. */
  maxDelayMs?: number;
  /** A (username, address) with no failure for this long after its wait starts afresh. */
  windowMs?: number;
  /** Failures from one address (any username) within `addressWindowMs` before it must wait. */
  addressFailures?: number;
  addressWindowMs?: number;
  /** An attempt that never reported its outcome stops counting as in flight after this long. */
  pendingTimeoutMs?: number;
  /** Bound on the remembered keys (oldest forgotten first). */
  maxEntries?: number;
  now?: () => number;
}

interface KeyState {
  failures: number;
  lastFailureAt: number;
  /** Start times of attempts in flight (checked but not yet reported). */
  pending: number[];
}

interface AddressState {
  /** Failure times within the window, oldest first (at most `addressFailures`). */
  failures: number[];
  pending: number[];
}

/** A refused attempt: how long to wait and why. */
export class LoginThrottled extends ApiError {
  constructor(message: string, readonly retryAfterMs: number) {
    super(429, 'TooManyRequests', message, { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) });
  }
}

const minute = 60_000;

export class LoginThrottle implements LoginGuard {
  readonly freeFailures: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly windowMs: number;
  readonly addressFailures: number;
  readonly addressWindowMs: number;
  private readonly pendingTimeoutMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly keys = new Map<string, KeyState>();
  private readonly addresses = new Map<string, AddressState>();
  private sinceSweep = 0;

  constructor(opts: LoginThrottleOptions = {}) {
    this.freeFailures = opts.freeFailures ?? 5;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 15 * minute;
    this.windowMs = opts.windowMs ?? 15 * minute;
    this.addressFailures = opts.addressFailures ?? 50;
    this.addressWindowMs = opts.addressWindowMs ?? 15 * minute;
    this.pendingTimeoutMs = opts.pendingTimeoutMs ?? 30_000;
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  /** The wait after `failures` failures (0 while they are free). */
  delayAfter(failures: number): number {
    if (failures < this.freeFailures) return 0;
    const exp = failures - this.freeFailures;
    return exp >= 40 ? this.maxDelayMs : Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** exp);
  }

  /** How long this attempt must wait (0: it may go ahead). Does not reserve anything. */
  retryAfterMs(username: string, remote: string): number {
    const now = this.now();
    return Math.max(this.keyWait(this.keyState(username, remote, now), now), this.addressWait(this.addressState(remote, now), now));
  }

  async before(username: string, remote: string): Promise<void> {
    const now = this.now();
    const address = addressKey(remote);
    const addr = this.addressState(remote, now);
    const addrWait = this.addressWait(addr, now);
    if (addrWait > 0) {
      throw new LoginThrottled(`too many failed logins from ${address}: try again in ${seconds(addrWait)}`, addrWait);
    }
    const key = this.keyState(username, remote, now);
    const keyWait = this.keyWait(key, now);
    if (keyWait > 0) {
      throw new LoginThrottled(`too many failed logins for "${username}" from ${address}: try again in ${seconds(keyWait)}`, keyWait);
    }
    // Reserve: parallel attempts must not all slip through before the first failure is counted.
    this.ensureKey(username, remote, now).pending.push(now);
    this.ensureAddress(remote).pending.push(now);
  }

  async after(username: string, remote: string, ok: boolean): Promise<void> {
    const now = this.now();
    const k = keyOf(username, remote);
    const key = this.keys.get(k);
    key?.pending.shift();
    const addr = this.addresses.get(addressKey(remote));
    addr?.pending.shift();
    if (ok) {
      // A success clears this (user, address); the address budget stays (one known password
      // must not buy an attacker fresh guesses at other users).
      if (key) this.keys.delete(k);
      return;
    }
    const state = this.ensureKey(username, remote, now);
    state.failures++;
    state.lastFailureAt = now;
    const a = this.ensureAddress(remote);
    a.failures.push(now);
    if (a.failures.length > this.addressFailures) a.failures.splice(0, a.failures.length - this.addressFailures);
    if (++this.sinceSweep >= 1000 || this.keys.size + this.addresses.size > this.maxEntries) this.sweep(now);
  }

  /** Forgets expired state; past `maxEntries`, forgets the oldest. */
  sweep(now = this.now()): void {
    this.sinceSweep = 0;
    for (const [k, s] of this.keys) if (this.expiredKey(s, now)) this.keys.delete(k);
    for (const [k, s] of this.addresses) {
      this.prune(s, now);
      if (s.failures.length === 0 && s.pending.length === 0) this.addresses.delete(k);
    }
    for (const map of [this.keys, this.addresses] as Array<Map<string, unknown>>) {
      while (map.size > this.maxEntries / 2) map.delete(map.keys().next().value!);
    }
  }

  /** Remembered (username, address) and address entries, for tests and metrics. */
  get size(): { keys: number; addresses: number } {
    return { keys: this.keys.size, addresses: this.addresses.size };
  }

  private keyWait(s: KeyState | undefined, now: number): number {
    if (!s) return 0;
    if (s.failures + s.pending.length < this.freeFailures) return 0;
    // Past the free failures, attempts go one at a time: wait for the one in flight.
    if (s.pending.length > 0) return Math.max(1, this.baseDelayMs);
    return Math.max(0, s.lastFailureAt + this.delayAfter(s.failures) - now);
  }

  private addressWait(s: AddressState | undefined, now: number): number {
    if (!s) return 0;
    if (s.failures.length + s.pending.length < this.addressFailures) return 0;
    const oldest = s.failures[s.failures.length + s.pending.length - this.addressFailures];
    if (oldest === undefined) return Math.max(1, this.baseDelayMs);
    return Math.max(1, oldest + this.addressWindowMs - now);
  }

  private keyState(username: string, remote: string, now: number): KeyState | undefined {
    const k = keyOf(username, remote);
    const s = this.keys.get(k);
    if (!s) return undefined;
    s.pending = s.pending.filter((t) => now - t < this.pendingTimeoutMs);
    if (this.expiredKey(s, now)) {
      this.keys.delete(k);
      return undefined;
    }
    return s;
  }

  private expiredKey(s: KeyState, now: number): boolean {
    const live = s.pending.some((t) => now - t < this.pendingTimeoutMs);
    const quietFor = now - s.lastFailureAt;
    // Forgotten a whole window after the last wait ended: the escalation does not reset the moment a wait expires.
    return !live && (s.failures === 0 || quietFor >= this.delayAfter(s.failures) + this.windowMs);
  }

  private ensureKey(username: string, remote: string, now: number): KeyState {
    const k = keyOf(username, remote);
    let s = this.keys.get(k);
    if (!s) {
      s = { failures: 0, lastFailureAt: now, pending: [] };
      this.keys.set(k, s);
    }
    return s;
  }

  private addressState(remote: string, now: number): AddressState | undefined {
    const s = this.addresses.get(addressKey(remote));
    if (s) this.prune(s, now);
    return s;
  }

  private ensureAddress(remote: string): AddressState {
    const k = addressKey(remote);
    let s = this.addresses.get(k);
    if (!s) {
      s = { failures: [], pending: [] };
      this.addresses.set(k, s);
    }
    return s;
  }

  private prune(s: AddressState, now: number): void {
    while (s.failures.length && now - s.failures[0]! >= this.addressWindowMs) s.failures.shift();
    s.pending = s.pending.filter((t) => now - t < this.pendingTimeoutMs);
  }
}

const keyOf = (username: string, remote: string) => `${username.toLowerCase()}\u0000${addressKey(remote)}`;

/**
 * The address a budget is kept for: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64,
 * since one host commonly holds a whole /64 and could otherwise rotate through it.
 */
export function addressKey(remote: string): string {
  const ip = remote.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  if (!isIPv6(ip)) return ip || 'unknown';
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(ip: string): string[] {
  const [head, tail] = ip.split('%')[0]!.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4 forms other than the mapped one) counts as two groups.
  const last = right.length ? right : left;
  if (last.length && last[last.length - 1]!.includes('.')) {
    const v4 = last.pop()!.split('.').map(Number);
    last.push(((v4[0]! << 8) | v4[1]!).toString(16), ((v4[2]! << 8) | v4[3]!).toString(16));
  }
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g || '0', 16).toString(16));
}

function seconds(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 120) return `${s} second${s === 1 ? '' : 's'}`;
  return `${Math.ceil(s / 60)} minutes`;
}
