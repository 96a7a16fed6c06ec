// Ingest limits: a token bucket of bytes per second for each namespace pushing (a tenant's budget, whichever of its service accounts pushes).

export interface IngestLimits {
  /** Largest body accepted (compressed as sent, and again once decompressed). */
  maxBodyBytes: number;
  /** Most streams and lines in one push: decoding costs per item, and two bytes of protobuf make one. */
  maxEntries: number;
  bytesPerSecond: number;
  burstBytes: number;
  /**
   * Most streams one namespace may hold (Loki's max_global_streams_per_user, default 5,000): each
   * costs a row, its labels' index rows and memory in the backend for as long as its lines are
   * kept, so a shipper putting a request id in a label would otherwise grow them without bound.
   */
  maxStreamsPerNamespace: number;
}

export const defaultIngestLimits: IngestLimits = { maxBodyBytes: 8 * 1024 * 1024, maxEntries: 100_000, bytesPerSecond: 16 * 1024 * 1024, burstBytes: 32 * 1024 * 1024, maxStreamsPerNamespace: 5000 };

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly limits: IngestLimits) {}

  /** Takes `bytes` from the subject's bucket: 0 when allowed, else the seconds to wait before retrying. */
  take(subject: string, bytes: number, now = Date.now()): number {
    const b = this.buckets.get(subject) ?? { tokens: this.limits.burstBytes, at: now };
    b.tokens = Math.min(this.limits.burstBytes, b.tokens + ((now - b.at) / 1000) * this.limits.bytesPerSecond);
    b.at = now;
    if (this.buckets.size > 100_000) this.buckets.clear();
    this.buckets.set(subject, b);
    if (b.tokens >= bytes) {
      b.tokens -= bytes;
      return 0;
    }
    return Math.max(1, Math.ceil((bytes - b.tokens) / this.limits.bytesPerSecond));
  }
}
