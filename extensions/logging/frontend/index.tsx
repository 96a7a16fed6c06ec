import { defineConsoleExtension } from '@mortise/extension-sdk/console';

// What the logging extension adds to the console: a search page (platform and namespace level),
// a "Logs" tab on namespaces, on every installed extension's page (its backend's log) and on the
// devops run page. Every component is fetched only when first shown.
const logs = { en: 'Logs', zh: '日志' };

export default defineConsoleExtension({
  navItems: [
    { id: 'logs', title: logs, path: '', level: 'platform', order: 60 },
    { id: 'logs-ns', title: logs, path: '', level: 'namespace', order: 60 },
  ],
  routes: [
    { path: '', level: 'platform', component: () => import('./LogsPage.js') },
    { path: '', level: 'namespace', component: () => import('./LogsPage.js') },
  ],
  resourceTabs: [{ id: 'logs', title: logs, resource: { group: '', resource: 'namespaces' }, component: () => import('./NamespaceLogsTab.js') }],
  // Platform logs are for those who may read logs cluster-wide; the backend enforces it anyway.
  extensionTabs: [{ id: 'logs', title: logs, component: () => import('./ExtensionLogsTab.js'), requires: [{ verb: 'get', group: 'logging.mortise.io', resource: 'logs' }] }],
  contributions: [{ point: 'devops.mortise.io/run-tabs', id: 'logs', title: logs, component: () => import('./RunLogsTab.js') }],
  locales: {
    en: {
      heading: 'Logs', query: 'LogQL query', run: 'Run query', range: 'Time range', label: 'Label', value: 'Value', add: 'Add matcher',
      contains: 'Line contains', tail: 'Live tail', stop: 'Stop tail', lines: '{{count}} lines', none: 'No lines in this range.', histogram: 'Lines over time',
      context: 'Context', tailing: 'Tailing…',
    },
    zh: {
      heading: '日志', query: 'LogQL 查询', run: '查询', range: '时间范围', label: '标签', value: '值', add: '添加匹配条件',
      contains: '行包含', tail: '实时查看', stop: '停止', lines: '{{count}} 行', none: '此时间范围内没有日志。', histogram: '日志数量分布',
      context: '上下文', tailing: '实时查看中…',
    },
  },
});
