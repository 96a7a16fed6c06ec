import { defineConsoleExtension } from '@mortise/extension-sdk/console';

// What hello-world adds to the console: one navigation item and the page it opens. The page's
// code is fetched only when someone opens it.
export default defineConsoleExtension({
  navItems: [{ id: 'hello', title: { en: 'Hello World', zh: '你好，世界' }, path: '', level: 'platform' }],
  routes: [{ path: '', level: 'platform', component: () => import('./HelloPage.js') }],
  locales: {
    en: { heading: 'Hello World', from: 'The backend says:', as: 'You are signed in as {{user}}.' },
    zh: { heading: '你好，世界', from: '后端说：', as: '你的登录身份是 {{user}}。' },
  },
});
