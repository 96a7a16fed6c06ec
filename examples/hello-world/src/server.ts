import { createExtensionBackend } from '@mortise/extension-sdk';

// The hello-world backend: the SDK verifies the identity the core forwards, so the handler
// only reads it. The core proxies /proxy/hello-world/* here with the prefix stripped, and hands
// over the configuration it validated against extension.yaml's configSchema.

const backend = createExtensionBackend({ name: 'hello-world' });
const greeting = typeof backend.config.greeting === 'string' ? backend.config.greeting : 'Hello';

backend.router.get('/hello', (ctx) => {
  const user = (ctx.state as { identity: { username: string } }).identity.username;
  ctx.body = { message: `${greeting}, ${user}!`, user };
});

await backend.listen();
