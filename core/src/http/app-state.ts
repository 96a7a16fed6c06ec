import type { ParameterizedContext } from 'koa';
import type { RequestInfo } from '../api/request-info.js';
import type { RequestContext } from '../registry/kind.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  /** How the caller proved who they are. */
  via: 'token' | 'cookie' | 'anonymous' | 'service';
  /** When the credential stops being valid (ms since the epoch), when it expires at all. */
  expiresAt?: number;
}

export interface AppState {
  requestInfo: RequestInfo;
  user?: UserInfo;
  /** A label for metrics: the route pattern, never the raw path (bounded cardinality). */
  routeLabel?: string;
  /** The username a login attempt named (set by POST /oauth/token), for the audit log. */
  auditUser?: string;
  /** Annotations admission adds to the request's audit event. */
  auditAnnotations?: Record<string, string>;
  /** The query parameters, parsed once (queryOf). */
  query?: URLSearchParams;
}

export type AppContext = ParameterizedContext<AppState>;

/** What the registry knows of a request: who asks, and where admission notes go for the audit log. */
export function requestContextOf(ctx: AppContext): RequestContext {
  return {
    user: ctx.state.user,
    annotate: (key, value) => {
      ctx.state.auditAnnotations = { ...ctx.state.auditAnnotations, [key]: value };
    },
  };
}

/**
 * The request's query parameters, parsed once, without building the whole URL for them as koa's
 * `ctx.URL` does (origin, host and protocol headers: a cost on every request).
 */
export function queryOf(ctx: AppContext): URLSearchParams {
  return (ctx.state.query ??= new URLSearchParams(ctx.querystring));
}
