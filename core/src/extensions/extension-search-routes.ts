import Router from '@koa/router';
import { badRequest } from '../api/status.js';
import type { AppContext, AppState } from '../http/app-state.js';
import type { KindRegistry } from '../registry/kind-registry.js';
import type { ResourceService } from '../registry/resource-service.js';
import type { KubeObject } from '../store/resource-store.js';
import { extensionsGroup } from '../schemas/extensions.js';
import { singleQueryParam } from '../api/query-params.js';

const text = (v: unknown): string => (typeof v === 'string' ? v : v && typeof v === 'object' ? Object.values(v as Record<string, unknown>).filter((x) => typeof x === 'string').join(' ') : '');

/** How well an extension matches: exact name > name prefix > keyword > display text; 0 = no match. */
function score(e: KubeObject, q: string): number {
  if (!q) return 1;
  const name = e.metadata.name!.toLowerCase();
  const spec = (e.spec ?? {}) as { displayName?: unknown; description?: unknown; keywords?: string[] };
  if (name === q) return 100;
  if (name.startsWith(q)) return 50;
  if ((spec.keywords ?? []).some((k) => k.toLowerCase() === q)) return 30;
  if (name.includes(q)) return 20;
  if (`${text(spec.displayName)} ${text(spec.description)} ${(spec.keywords ?? []).join(' ')}`.toLowerCase().includes(q)) return 10;
  return 0;
}

/**
 * The Extension Center's search (`/kapis/extensions.mortise.io/v1alpha1/extensions`): the synced
 * Extensions, ranked by a text query, filtered by category or install state, each with its
 * InstallPlan's state — one call for the console instead of one per extension.
 */
export function extensionSearchRouter(deps: { service: ResourceService; kinds: KindRegistry }): Router<AppState> {
  const router = new Router<AppState>();
  router.get(`/kapis/${extensionsGroup}/v1alpha1/extensions`, async (ctx: AppContext) => {
    const params = ctx.URL.searchParams;
    const q = (singleQueryParam(params, 'q') ?? '').trim().toLowerCase();
    const category = singleQueryParam(params, 'category') || undefined;
    const installed = singleQueryParam(params, 'installed');
    if (installed !== undefined && installed !== 'true' && installed !== 'false') throw badRequest('installed must be true or false');
    if (q.length > 200) throw badRequest('q must be at most 200 characters');
    const exts = (await deps.service.list(deps.kinds.byGroupResource(extensionsGroup, 'extensions')!, '')).items;
    const plans = new Map((await deps.service.list(deps.kinds.byGroupResource(extensionsGroup, 'installplans')!, '')).items.map((p) => [p.metadata.name!, p]));
    const items = exts
      .map((e) => ({ e, s: score(e, q) }))
      .filter(({ e, s }) => s > 0 && (!category || (e.spec as { category?: string })?.category === category))
      .filter(({ e }) => installed === undefined || plans.has(e.metadata.name!) === (installed === 'true'))
      .sort((a, b) => b.s - a.s || a.e.metadata.name!.localeCompare(b.e.metadata.name!))
      .map(({ e, s }) => {
        const plan = plans.get(e.metadata.name!);
        const ps = (plan?.status ?? {}) as { state?: string; installedVersion?: string };
        return { ...e, search: { score: s }, installation: plan ? { state: ps.state, installedVersion: ps.installedVersion, enabled: (plan.spec as { enabled?: boolean }).enabled !== false } : null };
      });
    ctx.body = { apiVersion: `${extensionsGroup}/v1alpha1`, kind: 'ExtensionSearchResult', metadata: {}, items };
  });
  return router;
}
