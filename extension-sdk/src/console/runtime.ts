import { createContext, createElement, Fragment, useContext, useEffect, useState, type ReactNode } from 'react';
import type { ApiClient } from './api-client.js';
import type { AccessCheck, Contribution, LazyComponent } from './extension-points.js';

// The console runtime the host hands to every extension through React context. This module is
// a shared singleton, so the host and every remote see the same context object.

export interface CurrentUser {
  username: string;
  displayName?: string;
  email?: string;
  lang?: string;
  /** The platform-wide role names bound to the user (e.g. "platform-admin"). */
  globalRoles?: string[];
}

export interface Scope {
  workspace?: string;
  namespace?: string;
}

export interface ConsoleRuntime {
  user: CurrentUser;
  api: ApiClient;
  /** The language the console shows ("en", "zh"). */
  lang: string;
  /** The workspace and namespace the user is in, when any. */
  scope: Scope;
  /** Whether the user may do all of `checks` in `scope` (SelfSubjectRulesReview, cached per scope). */
  can(checks: AccessCheck[], scope?: Scope): Promise<boolean>;
  /** What other extensions put into the point `id` (see ExtensionPointDeclaration). */
  contributions(point: string): Array<Contribution & { extension: string }>;
  /** An extension's component, loaded on first render, inside the console's error boundary for that extension. */
  render(extension: string, component: LazyComponent<Record<string, unknown>>, props: Record<string, unknown>): ReactNode;
}

export const ConsoleRuntimeContext = createContext<ConsoleRuntime | undefined>(undefined);

export function useConsole(): ConsoleRuntime {
  const runtime = useContext(ConsoleRuntimeContext);
  if (!runtime) throw new Error('useConsole() must be used inside the Mortise console (no ConsoleRuntimeContext above this component)');
  return runtime;
}

export const useCurrentUser = (): CurrentUser => useConsole().user;

export const useApi = (): ApiClient => useConsole().api;

/** Whether the user may do all of `checks`; undefined while the answer loads. */
export function useAccess(checks: AccessCheck[], scope?: Scope): boolean | undefined {
  const runtime = useConsole();
  const [allowed, setAllowed] = useState<boolean | undefined>(undefined);
  const key = JSON.stringify([checks, scope ?? runtime.scope]);
  useEffect(() => {
    let live = true;
    runtime.can(checks, scope).then((ok) => live && setAllowed(ok), () => live && setAllowed(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runtime, key]);
  return allowed;
}

/**
 * Renders what other extensions put into one of this extension's points (see
 * ExtensionPointDeclaration): each contribution's component inside the console's error
 * boundary, loaded when first shown. `props` goes to every component.
 */
export function ExtensionSlot(props: { point: string; props?: Record<string, unknown> }) {
  const runtime = useConsole();
  const items = runtime.contributions(props.point).filter((c) => c.component);
  return createElement(Fragment, null, ...items.map((c) => createElement(Fragment, { key: `${c.extension}/${c.id}` }, runtime.render(c.extension, c.component!, props.props ?? {}))));
}
