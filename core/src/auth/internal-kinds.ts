import type { ResourceRef } from '../store/resource-store.js';

// State the core keeps in the same store as everything else, but never serves over the API.
export const internalGroup = 'internal.mortise.io';
export const signingKeysRef: ResourceRef = { group: internalGroup, resource: 'signingkeys' };
export const refreshTokensRef: ResourceRef = { group: internalGroup, resource: 'refreshtokens' };
export const loginRecordsRef: ResourceRef = { group: internalGroup, resource: 'loginrecords' };
export const authorizationCodesRef: ResourceRef = { group: internalGroup, resource: 'authorizationcodes' };
export const externalLoginStatesRef: ResourceRef = { group: internalGroup, resource: 'externalloginstates' };
