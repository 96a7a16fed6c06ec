/**
 * The modules the console shares with every extension, one instance each (singletons), with
 * the version the host ships and the range an extension may ask for. An extension built with
 * the SDK's federation preset uses these and is refused when its own package asks for a range
 * the host's version does not satisfy. A test keeps this table equal to what the host installs.
 */
export interface SharedModule {
  /** The version the console host ships. */
  version: string;
  /** What remotes are built to require (compatible with `version`). */
  requiredVersion: string;
}

export const sharedModules = {
  react: { version: '18.3.1', requiredVersion: '^18.3.0' },
  'react/jsx-runtime': { version: '18.3.1', requiredVersion: '^18.3.0' },
  'react-dom': { version: '18.3.1', requiredVersion: '^18.3.0' },
  'react-dom/client': { version: '18.3.1', requiredVersion: '^18.3.0' },
  'react-router-dom': { version: '6.30.3', requiredVersion: '^6.30.0' },
  i18next: { version: '25.10.10', requiredVersion: '^25.0.0' },
  'react-i18next': { version: '15.7.4', requiredVersion: '^15.0.0' },
  '@mantine/core': { version: '8.3.8', requiredVersion: '^8.3.0' },
  '@mantine/hooks': { version: '8.3.8', requiredVersion: '^8.3.0' },
  '@mortise/extension-sdk/console': { version: '0.1.0', requiredVersion: '^0.1.0' },
} as const satisfies Record<string, SharedModule>;

export type SharedModuleName = keyof typeof sharedModules;

/** The package a shared module comes from ("react-dom/client" → "react-dom"). */
export function packageOf(module: string): string {
  const parts = module.split('/');
  return module.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}
