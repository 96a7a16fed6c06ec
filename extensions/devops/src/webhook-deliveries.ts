import { createHash } from 'node:crypto';
import type { CoreClient } from '@mortise/extension-sdk/backend';

/** The label a run started by a webhook carries: a digest of the signed body it was started for. */
export const deliveryLabel = 'devops.mortise.io/delivery';

/**
 * A signed webhook body starts at most one run. The signature covers the body only (the
 * delivery id headers are not signed), so a captured request could be sent again, and a git
 * host's "Redeliver" sends the same body: either gets the run the first delivery started (200)
 * instead of a new one. The digest goes on the run as a label, so this holds across restarts
 * and replicas for as long as the run is kept; deliveries in flight here are joined.
 */
export class WebhookDeliveries {
  private readonly inFlight = new Map<string, Promise<{ run: string; created: boolean }>>();

  constructor(private readonly core: CoreClient, private readonly runsPath: (namespace: string) => string) {}

  /** The run for this delivery: an existing one (`created: false`) or the one `start` makes with the label. */
  async once(namespace: string, pipeline: string, body: Buffer, start: (labels: Record<string, string>) => Promise<string>): Promise<{ run: string; created: boolean }> {
    // A label value holds 63 characters: 252 bits of sha256 are plenty.
    const digest = createHash('sha256').update(`${pipeline}\n`).update(body).digest('hex').slice(0, 63);
    const key = `${namespace}/${digest}`;
    const pending = this.inFlight.get(key);
    if (pending) return { run: (await pending).run, created: false };
    const work = (async () => {
      const existing = await this.core.get<{ items: Array<{ metadata: { name: string } }> }>(`${this.runsPath(namespace)}?labelSelector=${encodeURIComponent(`${deliveryLabel}=${digest}`)}`);
      if (existing.items.length) return { run: existing.items[0]!.metadata.name, created: false };
      return { run: await start({ [deliveryLabel]: digest }), created: true };
    })();
    this.inFlight.set(key, work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(key);
    }
  }
}
