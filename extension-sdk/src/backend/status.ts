/** Status reasons by HTTP code, as Kubernetes names them. */
const reasons: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict',
  410: 'Gone', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests', 503: 'ServiceUnavailable',
};

export function statusReason(code: number): string {
  return reasons[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest');
}

/** A Kubernetes `Status` answer, as the core gives for its own errors. */
export function backendStatus(code: number, message: string, details?: Record<string, unknown>) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: statusReason(code), code, ...(details ? { details } : {}) };
}
