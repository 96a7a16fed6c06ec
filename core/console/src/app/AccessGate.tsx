import type { ReactNode } from 'react';
import { useAccess, type AccessCheck } from '@mortise/extension-sdk/console';

/** Renders its children only when the user may do all of `checks` (nothing while asking). */
export function AccessGate({ checks, children, fallback = null }: { checks?: AccessCheck[]; children: ReactNode; fallback?: ReactNode }) {
  const allowed = useAccess(checks ?? []);
  if (!checks?.length) return <>{children}</>;
  return <>{allowed ? children : allowed === false ? fallback : null}</>;
}
