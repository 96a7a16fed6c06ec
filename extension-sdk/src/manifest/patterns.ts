/**
 * Regular expressions shared by the manifest and repository schemas, each with the sentence
 * used when a value does not match (ajv only says "must match pattern ...").
 */

export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A Kubernetes object's name (a DNS-1123 subdomain; dots optional). */
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS1123_SUBDOMAIN_WITH_DOT =
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$';
export const LANGUAGE_TAG = '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$';
export const API_VERSION_NAME = '^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$';
export const SPDX_LICENSE = '^[A-Za-z0-9(][A-Za-z0-9.+:() -]*$';
export const RBAC_VERB = '^([a-z][a-zA-Z]*|\\*)$';
export const ENV_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';
export const HTTP_HEADER_NAME = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
export const JS_IDENTIFIER = '^[A-Za-z_$][A-Za-z0-9_$]*$';
export const EXPOSED_MODULE = '^\\./[A-Za-z0-9_./-]*$';
export const SHA256_HEX = '^[a-f0-9]{64}$';
export const HTTP_URL = '^https?://';

const descriptions: Record<string, string> = {
  [DNS1123_LABEL]:
    'must be a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)',
  [DNS1123_SUBDOMAIN_WITH_DOT]:
    'must be a DNS-1123 subdomain containing at least one dot, e.g. "devops.example.com"',
  [LANGUAGE_TAG]: 'must be a language tag such as "en", "zh" or "pt-BR"',
  [API_VERSION_NAME]: 'must be an API version such as "v1", "v1alpha1" or "v2beta3"',
  [SPDX_LICENSE]: 'must be an SPDX license expression such as "Apache-2.0" or "MIT OR Apache-2.0"',
  [RBAC_VERB]: 'must be a verb such as "get", "list", "watch" or "*"',
  [ENV_NAME]: 'must be an environment variable name (letters, digits and "_", not starting with a digit)',
  [HTTP_HEADER_NAME]: 'must be a valid HTTP header name',
  [JS_IDENTIFIER]: 'must be a JavaScript identifier',
  [EXPOSED_MODULE]: 'must be a module path starting with "./", e.g. "./index"',
  [HTTP_URL]: 'must be an http:// or https:// URL',
  [SHA256_HEX]: 'must be a sha256 digest (64 lowercase hex characters)',
};

export function describePattern(pattern: string): string {
  return descriptions[pattern] ?? `must match the pattern ${pattern}`;
}

export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && new RegExp(DNS1123_LABEL).test(value);
}
