import { defineConsoleExtension } from '@mortise/extension-sdk/console';
import { runTabsPoint } from './paths.js';

// The DevOps pages: projects (platform), and in a namespace its pipelines, the pipeline editor,
// runs and credentials. The run page has a slot other extensions fill with tabs (the logging
// extension adds one): `devops.mortise.io/run-tabs`, see docs/devops.md for its props.
const view = [{ verb: 'list', group: 'devops.mortise.io', resource: 'pipelines' }];
export default defineConsoleExtension({
  navItems: [
    { id: 'projects', title: { en: 'DevOps projects', zh: 'DevOps 项目' }, path: '', level: 'platform', requires: [{ verb: 'list', group: 'devops.mortise.io', resource: 'devopsprojects' }] },
    { id: 'pipelines', title: { en: 'Pipelines', zh: '流水线' }, path: '', level: 'namespace', requires: view },
    { id: 'credentials', title: { en: 'Credentials', zh: '凭证' }, path: 'credentials', level: 'namespace', requires: [{ verb: 'list', group: '', resource: 'secrets' }] },
  ],
  routes: [
    { path: '', level: 'platform', component: () => import('./ProjectsPage.js') },
    { path: '', level: 'namespace', component: () => import('./PipelinesPage.js'), requires: view },
    { path: 'pipelines/:pipeline', level: 'namespace', component: () => import('./PipelineEditorPage.js'), requires: view },
    { path: 'runs/:run', level: 'namespace', component: () => import('./RunPage.js'), requires: view },
    { path: 'credentials', level: 'namespace', component: () => import('./CredentialsPage.js') },
  ],
  extensionPoints: [{ id: runTabsPoint, description: 'Tabs of the run page; each gets {namespace, pipeline, run, startTime, completionTime}' }],
  locales: {
    en: { projects: 'DevOps projects', pipelines: 'Pipelines', run: 'Run', runWith: 'Run {{name}} with', cancel: 'Cancel', runs: 'Recent runs', approve: 'Approve', abort: 'Abort', artifacts: 'Artifacts', logs: 'Log', credentials: 'Credentials', save: 'Save', valid: 'Valid', create: 'Create', allSteps: 'All steps', stages: 'Stages' },
    zh: { projects: 'DevOps 项目', pipelines: '流水线', run: '运行', runWith: '运行 {{name}}，参数', cancel: '取消', runs: '最近的运行', approve: '批准', abort: '中止', artifacts: '制品', logs: '日志', credentials: '凭证', save: '保存', valid: '有效', create: '创建', allSteps: '全部步骤', stages: '阶段' },
  },
});
