import { defineConsoleExtension } from '@mortise/extension-sdk/console';

// The mesh in the console: the topology of a namespace, a service's detail, the grayscale-release
// wizard and the traces. Each page is its own chunk, fetched when first opened.
export default defineConsoleExtension({
  navItems: [{ id: 'mesh', title: { en: 'Service Mesh', zh: '服务网格' }, path: '', level: 'platform' }],
  routes: [
    { path: '', level: 'platform', component: () => import('./TopologyPage.js') },
    { path: 'services/:namespace/:service', level: 'platform', component: () => import('./ServicePage.js') },
    { path: 'releases', level: 'platform', component: () => import('./ReleasePage.js') },
    { path: 'traces', level: 'platform', component: () => import('./TracesPage.js') },
    { path: 'traces/:namespace/:traceId', level: 'platform', component: () => import('./TracePage.js') },
  ],
  locales: {
    en: { title: 'Service Mesh', topology: 'Topology', releases: 'Releases', traces: 'Traces', namespace: 'Namespace' },
    zh: { title: '服务网格', topology: '拓扑', releases: '灰度发布', traces: '链路追踪', namespace: '命名空间' },
  },
});
