/**
 * Paths inside an extension package: always relative, "/"-separated, never leaving the
 * package root. Used for manifest references and for every entry of an untrusted archive.
 */

export const MAX_PACKAGE_PATH_LENGTH = 1024;

/** Why `path` is not a safe relative package path, or undefined when it is. */
export function unsafePackagePathReason(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (path.length > MAX_PACKAGE_PATH_LENGTH) return `is longer than ${MAX_PACKAGE_PATH_LENGTH} characters`;
  if (path.includes('\0')) return 'contains a NUL character';
  if (path.includes('\\')) return 'contains a backslash (use "/" as the separator)';
  if (path.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(path)) return 'starts with a drive letter';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(path)) return 'is a URL, not a path';
  const segments = stripDotSlash(path).split('/');
  if (segments.includes('..')) return 'escapes the package root';
  if (segments.some((s, i) => s === '' && i !== segments.length - 1)) return 'contains an empty segment ("//")';
  if (segments.includes('.')) return 'contains a "." segment';
  return undefined;
}

/** "./dist/x.js" → "dist/x.js"; "docs/" → "docs". Call only on safe paths. */
export function normalizePackagePath(path: string): string {
  const stripped = stripDotSlash(path);
  return stripped.endsWith('/') ? stripped.slice(0, -1) : stripped;
}

function stripDotSlash(path: string): string {
  let p = path;
  while (p.startsWith('./')) p = p.slice(2);
  return p;
}
