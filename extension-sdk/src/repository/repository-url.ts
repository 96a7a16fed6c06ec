/**
 * Where a marketplace repository is, from the URL users see (`https://host/main`, the one
 * `mortise repo add` takes) or from the server's root plus a repository name.
 */
export function marketplaceTarget(url: string, repository?: string): { marketplaceUrl: string; repository: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`"${url}" is not a URL: give the repository's URL, e.g. http://127.0.0.1:8090/main`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`"${url}" is not an http(s) URL: a marketplace is reached over HTTP (a file:// repository is a directory: use \`mortise-ext index\`)`);
  const segments = parsed.pathname.replace(/\/index\.yaml$/, '').split('/').filter(Boolean);
  if (repository) {
    if (segments.length > 0 && segments.at(-1) !== repository) {
      throw new Error(`${url} is the repository "${segments.at(-1)}", but --repository says "${repository}": give one of them`);
    }
    if (segments.at(-1) === repository) segments.pop();
    return { marketplaceUrl: `${parsed.origin}/${segments.map((s) => `${s}/`).join('')}`, repository };
  }
  if (segments.length === 0) return { marketplaceUrl: `${parsed.origin}/`, repository: 'main' };
  const name = decodeURIComponent(segments.pop()!);
  return { marketplaceUrl: `${parsed.origin}/${segments.map((s) => `${s}/`).join('')}`, repository: name };
}
