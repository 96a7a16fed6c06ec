import { defineConsoleExtension } from '@mortise/extension-sdk/console';

// What hello-world adds to the console: one navigation item and the page it opens. The page's
// code is fetched only when someone opens it.
export default defineConsoleExtension({
  navItems: [{ id: 'hello', title: { en: 'Hello World', zh: '你好，世界' }, path: '', level: 'platform' }],
  routes: [
    { path: '', level: 'platform', component: () => import('./HelloPage.js') },
    // A route with a parameter: the page gets `params.name`.
    { path: 'greet/:name', level: 'platform', component: () => import('./GreetPage.js') },
  ],
  locales: {
    en: { heading: 'Hello World', from: 'The backend says:', as: 'You are signed in as {{user}}.', greet: 'Greetings, {{name}}!' },
    zh: { heading: '你好，世界', from: '后端说：', as: '你的登录身份是 {{user}}。', greet: '你好，{{name}}！' },
  },
});
