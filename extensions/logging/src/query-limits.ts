// What one query may cost, in memory: answered 422 beyond, rather than holding the backend's only
// thread and heap (a reader's `line_format "{{.__line__}}…"` over a few long lines ran it out of
// memory, and the process with it, for every tenant).

export class QueryLimitError extends Error {}

/** A line rewritten by `line_format` may be this long: the longest a push may store. */
export const MAX_FORMATTED_LINE = 256 * 1024;

/** Distinct series a metric query may build before aggregating (each line can be one, after `| json`). */
export const MAX_METRIC_SERIES = 100_000;

/**
 * Points (a series at a step) a metric query may hold before aggregating: 20,000 lines of
 * distinct ids over 11,000 steps needed 220 M of them and ran the backend out of memory.
 */
export const MAX_METRIC_POINTS = 2_000_000;

/**
 * The lines of one answer (a query, a tail's first frame or one of its frames) may total this
 * many characters, and the label sets of its streams count too (`| json` makes a label of every
 * field: a 256 KiB line can carry 20,000).
 */
export const MAX_RESULT_CHARS = 64 * 1024 * 1024;

/** What a label costs in an answer beyond its characters (an object's property, roughly). */
const LABEL_OVERHEAD = 32;

/** The weight of a label set in MAX_RESULT_CHARS. */
export function labelsWeight(labels: Record<string, string>): number {
  let n = 0;
  for (const k in labels) n += k.length + labels[k]!.length + LABEL_OVERHEAD;
  return n;
}

/**
 * How long one query may run: past this one is stopped (422). Queries (a tail's first lines too)
 * run on the query pool's threads, which one query would otherwise hold (`| json` over lines of 20,000
 * fields costs ~0.1 s a line: 5,000 of them held it for ten minutes).
 */
export const MAX_QUERY_MS = 10_000;

/** Labels, summed over the series a metric query builds before aggregating. */
export const MAX_METRIC_LABELS = 2_000_000;
