import { Center, Loader } from '@mantine/core';
import { lazy, Suspense, useMemo, type ComponentType } from 'react';
import type { LazyComponent } from '@mortise/extension-sdk/console';
import { ExtensionBoundary } from './ExtensionBoundary.js';

/** An extension's component, fetched on first render, inside its error boundary. */
export function ExtensionComponent<P extends object>(props: { extension: string; load: LazyComponent<P>; props: P }) {
  return (
    <ExtensionBoundary name={props.extension}>
      <LazyInner load={props.load} props={props.props} />
    </ExtensionBoundary>
  );
}

function LazyInner<P extends object>({ load, props }: { load: LazyComponent<P>; props: P }) {
  // Made per mount: after a retry (the boundary remounts) a failed import is tried again.
  const Lazy = useMemo(() => lazy(load) as unknown as ComponentType<P>, [load]);
  return (
    <Suspense fallback={<Center p="xl"><Loader size="sm" /></Center>}>
      <Lazy {...props} />
    </Suspense>
  );
}
