import type { ParameterizedContext } from 'koa';
import type { RequestInfo } from '../api/request-info.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  /** How the caller proved who they are. */
  via: 'token' | 'anonymous' | 'service';
}

export interface AppState {
  requestInfo: RequestInfo;
  user?: UserInfo;
  /** A label for metrics: the route pattern, never the raw path (bounded cardinality). */
  routeLabel?: string;
  /** The username a login attempt named (set by POST /oauth/token), for the audit log. */
  auditUser?: string;
}

export type AppContext = ParameterizedContext<AppState>;
