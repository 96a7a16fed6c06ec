import { allowsAll, type AccessCheck, type ApiClient, type ConsoleRuntime, type Contribution, type CurrentUser, type Scope, type SubjectRules } from '@mortise/extension-sdk/console';
import { createElement } from 'react';
import { ExtensionComponent } from '../extensions/ExtensionComponent.js';
import type { ExtensionRegistry } from '../extensions/registry.js';

/**
 * The runtime handed to pages and extensions. Permission checks ask the core once per scope
 * (SelfSubjectRulesReview) and answer from those rules; the API refuses anyway what a page hides.
 */
export function createConsoleRuntime(o: { user: CurrentUser; api: ApiClient; lang: string; scope: Scope; registry: ExtensionRegistry; rules: RulesCache }): ConsoleRuntime {
  return {
    user: o.user,
    api: o.api,
    lang: o.lang,
    scope: o.scope,
    async can(checks: AccessCheck[], scope?: Scope) {
      if (!checks.length) return true;
      return allowsAll(await o.rules.get(scope ?? o.scope), checks);
    },
    render(extension, component, props) {
      return createElement(ExtensionComponent<Record<string, unknown>>, { extension, load: component, props });
    },
    contributions(point: string) {
      return o.registry.getSnapshot().flatMap((e) => (e.module?.contributions ?? []).filter((c): c is Contribution => c.point === point).map((c) => ({ ...c, extension: e.name })));
    },
  };
}

/** SelfSubjectRulesReview answers, one per workspace/namespace, kept for the session. */
export class RulesCache {
  private cache = new Map<string, Promise<SubjectRules>>();

  constructor(private readonly api: ApiClient) {}

  get(scope: Scope): Promise<SubjectRules> {
    const key = `${scope.workspace ?? ''}/${scope.namespace ?? ''}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.api
        .request<{ status: SubjectRules }>('/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
          method: 'POST',
          json: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: scope.namespace, workspace: scope.workspace } },
        })
        .then((r) => r.status);
      hit.catch(() => this.cache.delete(key));
      this.cache.set(key, hit);
    }
    return hit;
  }
}
