import { createExtensionBackend } from '@mortise/extension-sdk/backend';

// The hello-world backend: the SDK verifies the identity the core forwards, so the handler
// only reads it. The core proxies /proxy/hello-world/* here with the prefix stripped, and hands
// over the configuration it validated against extension.yaml's configSchema.

// The name (the audience of forwarded identities) comes from the runtime's MORTISE_EXTENSION.
const backend = createExtensionBackend();
const greeting = typeof backend.config.greeting === 'string' ? backend.config.greeting : 'Hello';

backend.router.get('/hello', (ctx) => {
  const user = ctx.state.identity.username;
  ctx.body = { message: `${greeting}, ${user}!`, user };
});

await backend.listen();
