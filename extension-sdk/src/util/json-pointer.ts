/** Builds an RFC 6901 JSON pointer; the document root is shown as "/". */
export function jsonPointer(...segments: Array<string | number>): string {
  if (segments.length === 0) return '/';
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** Appends segments to an existing pointer ("/" counts as the root). */
export function childPointer(parent: string, ...segments: Array<string | number>): string {
  const base = parent === '/' ? '' : parent;
  return base + jsonPointer(...segments);
}

/** Joins two pointers: ("/config", "/a/b") → "/config/a/b"; ("/config", "/") → "/config". */
export function joinPointers(parent: string, child: string): string {
  if (child === '/' || child === '') return parent;
  return (parent === '/' ? '' : parent) + child;
}
