import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from '../manifest/patterns.js';

// A name a backend takes from its request (a path parameter, a field of an object) and puts into
// a URL of the core, read or written with its service account, must be a Kubernetes name: one
// with "/", "%2F" or dot segments would name another object than the one the core authorized
// the caller for — another namespace's.

const label = new RegExp(DNS1123_LABEL);
const subdomain = new RegExp(DNS1123_SUBDOMAIN);

/** A namespace's name: a DNS-1123 label (at most 63 characters). */
export function isNamespaceName(value: string): boolean {
  return value.length <= 63 && label.test(value);
}

/** An object's name: a DNS-1123 subdomain (at most 253 characters). */
export function isObjectName(value: string): boolean {
  return value.length <= 253 && subdomain.test(value);
}
