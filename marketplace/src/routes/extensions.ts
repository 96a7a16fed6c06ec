import type Router from '@koa/router';
import {
  findEntry,
  latestEntry,
  normalizePackagePath,
  unsafePackagePathReason,
  type IndexEntry,
  type LocalizedText,
  versionsOf,
} from '@mortise/extension-sdk';
import type { Context } from 'koa';
import { badRequest, notFound } from '../http/api-error.js';
import { contentTypeFor } from '../http/content-type.js';
import type { Repository } from '../store/repositories.js';
import type { Services } from '../services.js';

const API = '/api/v1/repositories/:repo';
const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;

/** Browsing: search, categories and extension details (with README text and download counts). */
export function registerExtensionRoutes(router: Router, services: Services): void {
  router.get(`${API}/extensions`, (ctx) => {
    const repository = services.repositories.get(ctx.params.repo!);
    const limit = pageNumber(ctx.query.limit, DEFAULT_PAGE, 1, MAX_PAGE, 'limit');
    const offset = pageNumber(ctx.query.offset, 0, 0, Number.MAX_SAFE_INTEGER, 'offset');
    const hits = repository.search.search(
      { q: single(ctx.query.q), category: single(ctx.query.category), keyword: single(ctx.query.keyword) },
      (name) => repository.downloads.total(name),
    );
    ctx.body = {
      total: hits.length,
      items: hits.slice(offset, offset + limit).map((hit) => ({ ...summary(ctx, services, repository, hit.entry), score: hit.score })),
    };
  });

  router.get(`${API}/categories`, (ctx) => {
    const repository = services.repositories.get(ctx.params.repo!);
    const counts = repository.search.categoryCounts();
    ctx.body = { items: [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, count]) => ({ name, count })) };
  });

  router.get(`${API}/extensions/:name`, async (ctx) => {
    const repository = services.repositories.get(ctx.params.repo!);
    const name = ctx.params.name!;
    const versions = versionsOf(repository.store.index, name);
    const latest = latestEntry(repository.store.index, name, { includeYanked: true });
    if (!versions || !latest) throw notFound(`extension "${name}" is not in repository "${repository.store.name}"`);

    const pkg = await services.packages.get(repository.store, latest);
    const manifest = pkg.manifest;
    const readme = pkg.files.get(normalizePackagePath(manifest.readme ?? 'README.md'))?.data.toString('utf8') ?? null;
    const files = (path: string) => services.publicUrl(ctx, `${apiBase(repository)}/extensions/${name}/files/${path.split('/').map(encodeURIComponent).join('/')}`);
    ctx.body = {
      ...summary(ctx, services, repository, latest),
      license: latest.license,
      homepage: manifest.homepage ?? null,
      engines: latest.engines,
      dependencies: latest.dependencies,
      screenshots: (manifest.screenshots ?? []).map((s) => (isUrl(s) ? s : files(s))),
      readme,
      versions: versions.map((v) => ({
        version: v.version,
        digest: v.digest,
        created: v.created,
        engines: v.engines,
        dependencies: v.dependencies,
        signed: v.signature !== undefined,
        yanked: v.yanked ?? false,
        ...(v.yankedReason ? { yankedReason: v.yankedReason } : {}),
        downloads: repository.downloads.forVersion(name, v.version),
        downloadUrl: services.publicUrl(ctx, `/${repository.store.name}/${v.urls[0]}`),
      })),
    };
  });

  router.get(`${API}/extensions/:name/icon`, async (ctx) => {
    const { repository, entry } = resolveEntry(ctx, services);
    if (!entry.icon) throw notFound(`${entry.name} ${entry.version} has no icon`);
    if (isUrl(entry.icon)) {
      ctx.redirect(entry.icon);
      return;
    }
    await servePackageFile(ctx, services, repository, entry, entry.icon);
  });

  router.get(`${API}/extensions/:name/files/{*path}`, async (ctx) => {
    const { repository, entry } = resolveEntry(ctx, services);
    const prefix = `/extensions/${ctx.params.name}/files/`;
    const encoded = ctx.path.slice(ctx.path.indexOf(prefix) + prefix.length);
    let path: string;
    try {
      path = decodeURIComponent(encoded);
    } catch {
      throw badRequest('the file path is not valid URL encoding');
    }
    await servePackageFile(ctx, services, repository, entry, path);
  });
}

/** The latest installable version, or `?version=` if given. */
function resolveEntry(ctx: Context & { params: Record<string, string | undefined> }, services: Services): { repository: Repository; entry: IndexEntry } {
  const repository = services.repositories.get(ctx.params.repo!);
  const name = ctx.params.name!;
  const version = single(ctx.query.version);
  const entry = version
    ? findEntry(repository.store.index, name, version)
    : latestEntry(repository.store.index, name, { includeYanked: true });
  if (!entry) throw notFound(version ? `${name} ${version} is not in repository "${repository.store.name}"` : `extension "${name}" is not in repository "${repository.store.name}"`);
  return { repository, entry };
}

/**
 * A file from inside a package. Lookups go through the package's own file map, so nothing
 * outside the package is reachable; active content is neutralized by headers.
 */
async function servePackageFile(ctx: Context, services: Services, repository: Repository, entry: IndexEntry, path: string): Promise<void> {
  const pkg = await services.packages.get(repository.store, entry);
  const file = unsafePackagePathReason(path) ? undefined : pkg.files.get(normalizePackagePath(path));
  if (!file) throw notFound(`${entry.name} ${entry.version} has no file "${path}"`);
  ctx.type = contentTypeFor(file.path);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox");
  ctx.set('Cache-Control', 'public, max-age=300');
  ctx.etag = `${entry.digest.slice(0, 16)}-${Buffer.byteLength(file.path)}-${file.data.length}`;
  ctx.body = file.data;
}

function summary(ctx: Context, services: Services, repository: Repository, entry: IndexEntry) {
  const base = apiBase(repository);
  return {
    name: entry.name,
    latestVersion: entry.version,
    displayName: entry.displayName,
    description: entry.description,
    category: entry.category,
    keywords: entry.keywords,
    provider: entry.provider,
    iconUrl: entry.icon ? (isUrl(entry.icon) ? entry.icon : services.publicUrl(ctx, `${base}/extensions/${entry.name}/icon`)) : null,
    downloads: repository.downloads.total(entry.name),
    yanked: entry.yanked ?? false,
    title: english(entry.displayName),
  };
}

function apiBase(repository: Repository): string {
  return `/api/v1/repositories/${repository.store.name}`;
}

function english(text: LocalizedText): string {
  return typeof text === 'string' ? text : text.en;
}

function isUrl(value: string): boolean {
  return /^https?:\/\//.test(value);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function pageNumber(raw: string | string[] | undefined, fallback: number, min: number, max: number, name: string): number {
  const value = single(raw);
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw badRequest(`${name} must be an integer between ${min} and ${max}`);
  return n;
}
