import type { Messages } from './en.js';

export const zh: Messages = {
  appName: 'Mortise',
  login: { title: '登录 Mortise', username: '用户名', password: '密码', submit: '登录', or: '或', with: '使用 {{name}} 登录', failed: '登录失败' },
  nav: {
    home: '概览', extensionCenter: '扩展中心', users: '用户', roles: '角色', workspaces: '企业空间', namespaces: '项目',
    audit: '审计日志', resources: '资源', account: '我的账户', extensions: '扩展', platform: '平台', workspace: '企业空间',
  },
  header: { logout: '退出登录', language: '语言', workspace: '企业空间', namespace: '项目', allWorkspaces: '未选择企业空间' },
  home: { welcome: '欢迎，{{name}}', intro: '此控制台由管理员安装的扩展组成。', installed: '控制台中的扩展', none: '尚未启用任何扩展。' },
  extension: {
    failed: '扩展“{{name}}”出错', retry: '重试', retrying: '{{seconds}} 秒后重试', loading: '正在加载 {{name}}…',
    notFound: '此处没有页面', notFoundText: '没有已启用的扩展提供此页面。',
  },
  center: {
    title: '扩展中心', search: '搜索扩展', category: '分类', all: '全部', install: '安装', installed: '已安装',
    enable: '启用', disable: '停用', uninstall: '卸载', upgrade: '升级到 {{version}}', details: '详情', version: '版本',
    state: '状态', provider: '提供者', noResults: '没有匹配的扩展。', config: '配置', repositories: '仓库', back: '返回',
    readme: '说明', screenshots: '截图', save: '保存', progress: '进度',
    configRefused: '配置被拒绝', noReadme: '此扩展没有说明。', configSaved: '配置已保存，扩展将以新配置重启。',
  },
  resources: { filter: '筛选类型', kind: '类型', group: '组', scope: '范围', namespaced: '项目级', cluster: '集群级', saved: '已保存' },
  users: { email: '邮箱', lastLogin: '最近登录' },
  workspaces: { members: '成员', roles: '角色' },
  roles: {
    title: '角色 — {{where}}', platform: '平台', new: '新建角色', edit: '编辑', editing: '角色 {{name}}', templates: '权限模板',
    displayName: '显示名称', builtin: '内置', builtinNote: '内置角色：其规则由平台维护；请新建角色。',
    noTemplates: '此处的角色没有可用的权限模板。', coreModule: '平台', dependsOn: '依赖：{{names}}', neededBy: '被依赖：{{names}}',
    missing: '已命名但不再安装（不授予任何权限）：{{names}}', resolves: '此角色授予的规则', members: '已绑定',
    bindUser: '绑定到用户', bind: '绑定',
  },
  audit: { user: '用户', time: '时间', verb: '操作', outcome: '结果' },
  common: { name: '名称', created: '创建时间', actions: '操作', cancel: '取消', save: '保存', delete: '删除', create: '创建', loading: '加载中…', error: '错误', refresh: '刷新' },
  account: { title: '我的账户', changePassword: '修改密码', current: '当前密码', new: '新密码', changed: '密码已修改' },
};
