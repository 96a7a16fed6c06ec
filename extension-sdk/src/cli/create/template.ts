// The files of a new extension, as `mortise-ext create` writes them. The project stands alone:
// its own tsconfig, the SDK as its only Mortise dependency, tests on Node's own test runner
// against a real core (the SDK's test harness), so it builds, tests and packs anywhere on disk.

export interface TemplateOptions {
  name: string;
  /** The npm dependency spec of the SDK (`file:/path/to/mortise-extension-sdk-0.1.0.tgz`, `^0.1.0`). */
  sdk: string;
  sdkVersion: string;
}

const title = (name: string) => name.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');

export function templateFiles(o: TemplateOptions): Record<string, string> {
  const { name } = o;
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  return {
    'package.json': json({
      name, version: '0.1.0', private: true, type: 'module',
      description: `${title(name)}: a Mortise extension`,
      scripts: {
        build: 'tsc -p .',
        test: 'npm run build && node --test dist/test/',
        validate: 'mortise-ext validate .',
        pack: 'npm run build && mortise-ext validate . && mortise-ext pack . --out packages',
        dev: 'mortise-ext dev .',
      },
      dependencies: { '@mortise/extension-sdk': o.sdk },
      devDependencies: { '@types/node': '^20.19.0', typescript: '~5.9.3' },
      engines: { node: '>=20.18' },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, esModuleInterop: true, skipLibCheck: true,
        rootDir: '.', outDir: 'dist', declaration: false, sourceMap: false, types: ['node'],
      },
      include: ['src', 'test'],
    }),
    'extension.yaml': `apiVersion: mortise.io/v1alpha1
kind: Extension
name: ${name}
version: 0.1.0
displayName: ${title(name)}
description: ${title(name)} keeps notes for each user.
category: other
keywords: [notes]
provider:                      # required
  name: Your name or company
  email: you@example.com
license: Apache-2.0            # required (an SPDX identifier)
engines:
  mortise: ">=0.1.0 <1.0.0"
backend:
  entry: dist/src/server.js    # built by \`npm run build\`
  healthPath: /healthz
reverseProxies:
  - prefix: /proxy/${name}/
    stripPrefix: true
permissions: []                # what the backend's service account may do in the core's API
configSchema:
  type: object
  properties:
    greeting: {type: string, description: What the backend says before the caller's name.}
  additionalProperties: false
config:
  greeting: Hello
`,
    'src/server.ts': `import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createExtensionBackend } from '@mortise/extension-sdk';

// The backend of ${name}. The core starts it with its environment (MORTISE_*), proxies
// /proxy/${name}/* here with the prefix stripped and forwards the caller's identity, which the
// SDK verifies: ctx.state.identity is who is calling.

const backend = createExtensionBackend();
const greeting = typeof backend.config.greeting === 'string' ? backend.config.greeting : 'Hello';
const notesFile = (user: string) => join(backend.dataDir, \`notes-\${encodeURIComponent(user)}.json\`);

async function readNotes(user: string): Promise<string[]> {
  try {
    return JSON.parse(await readFile(notesFile(user), 'utf8')) as string[];
  } catch {
    return [];
  }
}

backend.router.get('/hello', (ctx) => {
  const { username } = ctx.state.identity;
  ctx.body = { message: \`\${greeting}, \${username}!\`, user: username };
});

backend.router.get('/notes', async (ctx) => {
  ctx.body = { notes: await readNotes(ctx.state.identity.username) };
});

backend.router.post('/notes', async (ctx) => {
  const text = (ctx.request.body as { text?: unknown } | undefined)?.text;
  if (typeof text !== 'string' || text === '') return ctx.throw(422, 'a note needs a non-empty "text"');
  const notes = [...(await readNotes(ctx.state.identity.username)), text];
  await writeFile(notesFile(ctx.state.identity.username), JSON.stringify(notes));
  ctx.status = 201;
  ctx.body = { notes };
});

await backend.listen();
`,
    'test/server.test.ts': `import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startTestPlatform, type TestPlatform } from '@mortise/extension-sdk/testing';

// A real Mortise core (MORTISE_CORE_ENTRY: a core's dist/main.js), this extension installed
// from this directory as a real install would, and made-up users calling it through the gateway.

const dir = fileURLToPath(new URL('../..', import.meta.url));
let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
  await platform.install(dir);
});

after(async () => {
  await platform?.close();
});

test('greets the caller by name', async () => {
  const alice = await platform.user('alice', { globalRoles: ['platform-regular'] });
  assert.deepEqual(await alice.json('/proxy/${name}/hello'), { message: 'Hello, alice!', user: 'alice' });
});

test('keeps each user\\'s notes apart', async () => {
  const bob = await platform.user('bob', { globalRoles: ['platform-regular'] });
  const carol = await platform.user('carol', { globalRoles: ['platform-regular'] });
  assert.deepEqual(await bob.json('/proxy/${name}/notes', { json: { text: 'buy milk' } }), { notes: ['buy milk'] });
  assert.deepEqual(await carol.json('/proxy/${name}/notes'), { notes: [] });
  const empty = await bob.fetch('/proxy/${name}/notes', { method: 'POST', json: {} });
  assert.equal(empty.status, 422);
});
`,
    '.mortiseignore': `# Left out of the package (gitignore syntax): only what the core runs goes in.
# A leading / anchors at the project root (dist/src/ is the built backend and stays in).
/src/
/test/
/dist/test/
/packages/
/tsconfig.json
/package-lock.json
/.mortise-dev/
*.tgz
`,
    '.gitignore': `node_modules/
dist/
packages/
.mortise-dev/
`,
    'README.md': `# ${title(name)}

A Mortise extension: a backend that greets the caller and keeps notes per user in its data
directory.

| command | what it does |
|---|---|
| \`npm install\` | installs the SDK (\`@mortise/extension-sdk\`) and TypeScript |
| \`npm run build\` | compiles \`src/\` and \`test/\` into \`dist/\` |
| \`npm test\` | builds, starts a real Mortise core (\`MORTISE_CORE_ENTRY\`: a core's \`dist/main.js\`), installs this extension into it and runs \`test/\` |
| \`npm run dev -- --core http://127.0.0.1:8080\` | runs the backend here against a running core; your requests through its gateway reach it; rebuilds on change |
| \`npm run pack\` | validates and packs \`packages/${name}-<version>.tgz\` (+ \`.sha256\`) |

Then publish the package (\`mortise-ext publish\`) or add it to a static repository
(\`mortise-ext index\`); see the SDK's README and the Mortise docs (\`docs/isv-tutorial.md\`).

## Configuration

| key | default | meaning |
|---|---|---|
| \`greeting\` | \`Hello\` | what the backend says before the caller's name |

## API (through the core's gateway)

- \`GET /proxy/${name}/hello\` → \`{"message": "Hello, <you>!", "user": "<you>"}\`
- \`GET /proxy/${name}/notes\` → \`{"notes": [...]}\` (yours)
- \`POST /proxy/${name}/notes\` \`{"text": "..."}\` → \`201\`, your notes
`,
  };
}
