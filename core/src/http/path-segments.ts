// Checks of a raw request path (as received, still percent-encoded) whose segments are
// authorized as names and then passed on to another server: the gateway's APIService routes and
// the cluster's own API at /clusters/host. What was authorized must be what the other side serves.

/** A "." or ".." segment, also spelled with %2e: a server (or a URL parser on the way) resolving it serves another path. */
export function hasDotSegment(path: string): boolean {
  if (!path.includes('.') && !path.includes('%')) return false;
  return path.split('/').some((s) => {
    if (!s.includes('.')) return s.toLowerCase().includes('%2e') && isDot(safeDecode(s));
    return isDot(s) || isDot(safeDecode(s));
  });
}

/**
 * A segment hiding a separator: an encoded "/" or "\" (%2F, %5C), or a raw "\" (WHATWG URL
 * parsers read it as "/"). Names cannot hold either; authorized as one name, such a segment
 * would be several to a server that decodes, then resolves.
 */
export function hasHiddenSeparator(path: string): boolean {
  return path.includes('\\') || (path.includes('%') && /%(2f|5c)/i.test(path));
}

const isDot = (s: string) => s === '.' || s === '..';

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
