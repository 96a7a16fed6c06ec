import { StoreError } from '../store/resource-store.js';
import { ApiError, alreadyExists, badRequest, conflict, forbidden, notFound } from '../api/status.js';
import type { KindDefinition } from './kind.js';

/** A store's typed error as the API's Status error. */
export function storeErrorToApi(e: StoreError, def: KindDefinition, name: string): ApiError {
  switch (e.reason) {
    case 'AlreadyExists': return alreadyExists(def.group, def.plural, name);
    case 'NotFound': return notFound(def.group, def.plural, name);
    case 'Conflict': return conflict(def.group, def.plural, name, e.message);
    case 'Invalid': return badRequest(e.message);
    case 'Forbidden': return forbidden(e.message);
    case 'Unavailable': return new ApiError(503, 'ServiceUnavailable', e.message);
    default: return new ApiError(410, 'Expired', e.message);
  }
}

/** A store's error as the API's, anything else unchanged. */
export function toApiError(e: unknown, def: KindDefinition, name: string): unknown {
  if (!(e instanceof StoreError)) return e;
  return storeErrorToApi(e, def, name);
}
