import type { ComponentType } from 'react';

// What an extension adds to the console. An extension's exposed module default-exports a
// ConsoleExtension (see defineConsoleExtension): plain data the host reads at once, with every
// component behind a loader, so an extension's code is fetched only when a page or slot needs it.

/** Text in several languages ("en", "zh", …), or one string for all. */
export type Localized = string | Record<string, string>;

/** A component loaded on first use, e.g. `() => import('./HelloPage')`. */
export type LazyComponent<P = object> = () => Promise<{ default: ComponentType<P> }>;

/** Where a navigation item or a page lives. */
export type ConsoleLevel = 'platform' | 'workspace' | 'namespace';

/**
 * "The user must be allowed to": shown only when every check passes for the current
 * user (answered by SelfSubjectRulesReview in the current workspace/namespace).
 */
export interface AccessCheck {
  verb: string;
  /** API group; "" for the core group. */
  group?: string;
  resource?: string;
  /** A non-resource URL (e.g. "/proxy/hello-world/*"), instead of group/resource. */
  path?: string;
}

/** A page, at a path relative to its level: platform `/x/<ext>/...`, workspace `/workspaces/:workspace/x/<ext>/...`, namespace `/workspaces/:workspace/namespaces/:namespace/x/<ext>/...`. */
export interface RouteExtension {
  /** Relative to the extension's base path; "" is its home page. */
  path: string;
  level?: ConsoleLevel;
  component: LazyComponent<PageProps>;
  requires?: AccessCheck[];
}

export interface PageProps {
  workspace?: string;
  namespace?: string;
  /** The route's `:param` values by name (decoded), and the rest of the path under "*" for a route ending in `*`. */
  params?: Record<string, string>;
}

export interface NavItemExtension {
  id: string;
  title: Localized;
  level?: ConsoleLevel;
  /** The route path (relative to the extension's base path) the item opens. */
  path: string;
  /** Smaller first; host items use 0–100. */
  order?: number;
  requires?: AccessCheck[];
}

export interface DashboardCardExtension {
  id: string;
  title: Localized;
  level?: ConsoleLevel;
  component: LazyComponent<PageProps>;
  requires?: AccessCheck[];
}

/** The resource a tab or action attaches to, as in the API: group + plural resource. */
export interface ResourceRef {
  group: string;
  resource: string;
}

export interface ResourceTabProps {
  resource: ResourceRef;
  /** The object shown on the page. */
  object: { metadata: { name?: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };
}

/** A tab on a resource's page, e.g. a "Logs" tab on namespaces. */
export interface ResourceTabExtension {
  id: string;
  title: Localized;
  resource: ResourceRef;
  component: LazyComponent<ResourceTabProps>;
  requires?: AccessCheck[];
}

/** A button on a resource's page; its component opens whatever it needs (a dialog, a drawer). */
export interface ResourceActionExtension {
  id: string;
  title: Localized;
  resource: ResourceRef;
  component: LazyComponent<ResourceTabProps & { onClose: () => void }>;
  requires?: AccessCheck[];
}

export interface ExtensionTabProps {
  /** The installed extension whose details page shows the tab. */
  extension: string;
  /** Its InstallPlan as the console watches it (spec and status: installed version, state, …). */
  installPlan: { metadata: { name?: string; [k: string]: unknown }; spec?: Record<string, unknown>; status?: Record<string, unknown> };
}

/** A tab on the Extension Center's details page of every installed extension, e.g. "Logs" of its backend. */
export interface ExtensionTabExtension {
  id: string;
  title: Localized;
  component: LazyComponent<ExtensionTabProps>;
  requires?: AccessCheck[];
}

/** A slot of an extension's own pages that other extensions may fill. */
export interface ExtensionPointDeclaration {
  /** Globally unique: "<extension>.<slot>", e.g. "devops.run-tabs". */
  id: string;
  description?: string;
}

/** Something an extension puts into another extension's point. */
export interface Contribution<P = Record<string, unknown>> {
  point: string;
  id: string;
  title?: Localized;
  component?: LazyComponent<P>;
  requires?: AccessCheck[];
  /** Free data the point's owner documents (an order, an icon name, …). */
  data?: Record<string, unknown>;
}

export interface ConsoleExtension {
  routes?: RouteExtension[];
  navItems?: NavItemExtension[];
  dashboardCards?: DashboardCardExtension[];
  resourceTabs?: ResourceTabExtension[];
  resourceActions?: ResourceActionExtension[];
  /** Tabs on the details page of each installed extension. */
  extensionTabs?: ExtensionTabExtension[];
  /** Translations by language, merged into the console's i18n under the extension's namespace. */
  locales?: Record<string, Record<string, string>>;
  /** Points of its own that other extensions fill (see <ExtensionSlot>). */
  extensionPoints?: ExtensionPointDeclaration[];
  contributions?: Contribution[];
}

/** Identity helper giving the declaration its type. */
export function defineConsoleExtension(extension: ConsoleExtension): ConsoleExtension {
  return extension;
}

/** Picks the text for a language: the language, then its base ("zh-CN" → "zh"), then English, then any. */
export function localize(text: Localized, lang: string): string {
  if (typeof text === 'string') return text;
  return text[lang] ?? text[lang.split('-')[0]!] ?? text.en ?? Object.values(text)[0] ?? '';
}
