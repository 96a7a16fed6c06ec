// Modules the tests use that ship no types.

// oidc-provider (support/oidc-provider.ts): the export is cast to the part of the Provider class
// that the test provider uses (ProviderLike there).
declare module 'oidc-provider' {
  const Provider: unknown;
  export default Provider;
}
