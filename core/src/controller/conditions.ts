/** A Kubernetes-style status condition. */
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/**
 * The conditions after setting some: others are kept, and each keeps its lastTransitionTime
 * while its status stays the same.
 */
export function mergeConditions(current: Condition[] | undefined, updates: Condition[], now = new Date().toISOString()): Condition[] {
  const merged = [...(current ?? [])];
  for (const c of updates) {
    const i = merged.findIndex((x) => x.type === c.type);
    const old = i >= 0 ? merged[i] : undefined;
    const next = { ...c, message: c.message ?? '', lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now };
    if (i >= 0) merged[i] = next;
    else merged.push(next);
  }
  return merged;
}
