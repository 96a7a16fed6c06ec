// What one query may cost, in memory: answered 422 beyond, rather than holding the backend's only
// thread and heap (a reader's `line_format "{{.__line__}}…"` over a few long lines ran it out of
// memory, and the process with it, for every tenant).

export class QueryLimitError extends Error {}

/** A line rewritten by `line_format` may be this long: the longest a push may store. */
export const MAX_FORMATTED_LINE = 256 * 1024;

/** The lines of one answer (a query, a tail's first frame or one of its frames) may total this many characters. */
export const MAX_RESULT_CHARS = 64 * 1024 * 1024;
