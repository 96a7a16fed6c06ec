import { createExtensionBackend } from '@mortise/extension-sdk';

// The hello-world backend: the SDK verifies the identity the core forwards, so the handler
// only reads it. The core proxies /proxy/hello-world/* here with the prefix stripped.

interface Config {
  greeting?: string;
}

const config = JSON.parse(process.env.MORTISE_CONFIG ?? '{}') as Config;
const backend = createExtensionBackend({ name: 'hello-world' });

backend.router.get('/hello', (ctx) => {
  const user = (ctx.state as { identity: { username: string } }).identity.username;
  ctx.body = { message: `${config.greeting ?? 'Hello'}, ${user}!`, user };
});

await backend.listen();
