import type { ResourceTabProps } from '@mortise/extension-sdk/console';
import { LogSearch } from './LogSearch.js';

/** The "Logs" tab of a namespace: its lines. */
export default function NamespaceLogsTab({ object }: ResourceTabProps) {
  return <LogSearch fixed={{ namespace: object.metadata.name ?? '' }} />;
}
