/** An error meant for the person at the terminal: a sentence, optional detail lines, an exit code. */
export class CliError extends Error {
  constructor(message: string, readonly details: string[] = [], readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

/** metav1.Status, as the core answers every API error. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: Array<{ reason?: string; message?: string; field?: string }>;
    retryAfterSeconds?: number;
  };
}

export function isStatus(value: unknown): value is KubeStatus {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status';
}

/** The server refused a request and said why in a Status. */
export class ApiStatusError extends CliError {
  constructor(readonly httpStatus: number, readonly status: KubeStatus) {
    const { message, details } = describeStatus(httpStatus, status);
    super(message, details);
    this.name = 'ApiStatusError';
  }

  get reason(): string | undefined {
    return this.status.reason;
  }
}

/**
 * The Status's message, and one `field: message` line per cause. The core (like Kubernetes)
 * folds the causes into the message: a single one stays there, several are listed one a line
 * under the message's head ("X is invalid:") so that they can be read.
 */
export function describeStatus(httpStatus: number, status: KubeStatus): { message: string; details: string[] } {
  const message = status.message || `the server answered ${httpStatus}${status.reason ? ` (${status.reason})` : ''}`;
  const causes = (status.details?.causes ?? []).map((c) => {
    const text = c.message ?? c.reason ?? '';
    return c.field ? `${c.field}: ${text}` : text;
  }).filter((line) => line !== '');
  const folded = causes.filter((line) => message.includes(line));
  if (causes.length >= 2 && folded.length === causes.length) {
    const head = message.slice(0, Math.min(...causes.map((line) => message.indexOf(line)))).replace(/[\s:,]+$/, '');
    if (head) return { message: `${head}:`, details: causes };
  }
  return { message, details: causes.filter((line) => !message.includes(line)) };
}

/** Nothing answered at the server's address (refused, unknown host, TLS failure, timeout). */
export class UnreachableError extends CliError {
  constructor(readonly url: string, why: string) {
    super(`cannot reach the Mortise server at ${url}: ${why}`);
    this.name = 'UnreachableError';
  }
}

/** A readable reason out of what fetch throws (undici hides the real one in `cause`). */
export function networkReason(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string; errors?: Array<{ message?: string }> } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${Math.round(timeoutMs / 1000)}s`;
  const cause = e?.cause;
  if (cause) {
    // "connect ECONNREFUSED 127.0.0.1:8080" says it all; AggregateErrors (IPv4 and IPv6) carry theirs inside.
    if (cause.message) return cause.message;
    if (cause.errors?.length) return cause.errors.map((x) => x.message).join('; ');
    if (cause.code) return cause.code;
  }
  return e?.message ?? String(error);
}
