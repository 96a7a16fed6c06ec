import type { ExtensionTabProps } from '@mortise/extension-sdk/console';
import { LogSearch } from './LogSearch.js';

/** The "Logs" tab of an installed extension: its backend's stdout and stderr, a platform stream. */
export default function ExtensionLogsTab({ extension }: ExtensionTabProps) {
  return <LogSearch fixed={{ source: 'extension', extension }} />;
}
