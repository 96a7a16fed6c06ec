import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ConsoleExtensionEntry, ExtensionRegistry } from './registry.js';

export const ExtensionRegistryContext = createContext<ExtensionRegistry | undefined>(undefined);

export function useRegistry(): ExtensionRegistry {
  const r = useContext(ExtensionRegistryContext);
  if (!r) throw new Error('no ExtensionRegistry above this component');
  return r;
}

/** The enabled extensions and their load states; re-renders on every change. */
export function useExtensions(): ConsoleExtensionEntry[] {
  const registry = useRegistry();
  return useSyncExternalStore(registry.subscribe, registry.getSnapshot);
}
