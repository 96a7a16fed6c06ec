import { ApiClient, ConsoleRuntimeContext, type CurrentUser } from '@mortise/extension-sdk/console';
import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useLocation } from 'react-router-dom';
import { ExtensionRegistryContext } from '../extensions/ExtensionsContext.js';
import { ExtensionRegistry } from '../extensions/registry.js';
import { scopeOf } from '../extensions/paths.js';
import { i18next } from '../i18n/i18n.js';
import { createConsoleRuntime, RulesCache } from './console-runtime.js';
import { Shell } from './Shell.js';

/** Everything a signed-in user has: the API client, the extension registry, the runtime. */
export function SignedInConsole({ user, onSignedOut }: { user: CurrentUser; onSignedOut: () => void }) {
  const { i18n } = useTranslation();
  const api = useMemo(() => new ApiClient({ onUnauthenticated: onSignedOut }), [onSignedOut]);
  const rules = useMemo(() => new RulesCache(api), [api]);
  const [registry] = useState(() => {
    const r = new ExtensionRegistry(api);
    // An extension's translations live in its own namespace: ext:<name>.
    r.onLoaded = (e) => {
      for (const [lang, strings] of Object.entries(e.module?.locales ?? {})) i18next.addResourceBundle(lang, `ext:${e.name}`, strings, true, true);
    };
    return r;
  });
  useEffect(() => {
    registry.start();
    return () => registry.stop();
  }, [registry]);
  const location = useLocation();
  const scope = scopeOf(location.pathname);
  const runtime = useMemo(
    () => createConsoleRuntime({ user, api, lang: i18n.language, scope, registry, rules }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [user, api, i18n.language, scope.workspace, scope.namespace, registry, rules],
  );
  return (
    <ConsoleRuntimeContext.Provider value={runtime}>
      <ExtensionRegistryContext.Provider value={registry}>
        <Shell onSignedOut={onSignedOut} />
      </ExtensionRegistryContext.Provider>
    </ConsoleRuntimeContext.Provider>
  );
}
