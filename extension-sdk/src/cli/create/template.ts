// The files of a new extension, as `mortise-ext create` writes them. The project stands alone:
// its own tsconfig, the SDK (and, for its tests, the packed core) as its only Mortise
// dependencies, a backend and a console frontend, tests on Node's own test runner against a real
// core (the SDK's test harness), so it builds, tests and packs anywhere on disk.

export interface TemplateOptions {
  name: string;
  /** The npm dependency spec of the SDK (`file:/path/to/mortise-extension-sdk-0.1.0.tgz`, `^0.1.0`). */
  sdk: string;
  sdkVersion: string;
  /** The npm dependency spec of the core the tests run (`file:/path/to/mortise-core-0.1.0.tgz`), if any. */
  core?: string;
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
        // The backend and tests (tsc), the frontend's types (tsc, no output), then the frontend (webpack).
        build: 'tsc -p . && tsc -p tsconfig.frontend.json && mortise-ext build .',
        test: 'npm run build && node --test dist/test/',
        validate: 'mortise-ext validate .',
        pack: 'npm run build && mortise-ext validate . && mortise-ext pack . --out packages',
        dev: 'mortise-ext dev .',
      },
      dependencies: { '@mortise/extension-sdk': o.sdk },
      // react, react-i18next and i18next are here for their types: the console provides them at
      // runtime (shared singletons), the build never bundles them.
      devDependencies: {
        ...(o.core ? { '@mortise/core': o.core } : {}),
        '@types/node': '^20.19.0', '@types/react': '^18.3.0', i18next: '^25.0.0', react: '^18.3.1', 'react-i18next': '^15.7.0', typescript: '~5.9.3',
      },
      engines: { node: '>=20.18' },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, esModuleInterop: true, skipLibCheck: true,
        rootDir: '.', outDir: 'dist', declaration: false, sourceMap: false, types: ['node'],
        // \`npm test\` and \`npm run pack\` both build: the second compiles only what changed.
        incremental: true, tsBuildInfoFile: 'dist/backend.tsbuildinfo',
      },
      include: ['src', 'test'],
    }),
    'tsconfig.frontend.json': json({
      compilerOptions: {
        target: 'ES2020', module: 'ESNext', moduleResolution: 'Bundler', jsx: 'react-jsx', strict: true, skipLibCheck: true,
        lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [], noEmit: true, incremental: true, tsBuildInfoFile: 'dist/frontend-types.tsbuildinfo',
      },
      include: ['frontend'],
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
frontend:
  # Built by \`mortise-ext build\` from frontend/index.tsx; its directory is served to anyone.
  remoteEntry: dist/frontend/remoteEntry.js
  exposedModule: ./extension
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
import { createExtensionBackend } from '@mortise/extension-sdk/backend';

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
import { startTestPlatform, type InstalledExtension, type TestPlatform } from '@mortise/extension-sdk/testing';

// A real Mortise core (the @mortise/core dev dependency, or MORTISE_CORE_ENTRY: a core's
// dist/bundle/main.js), this extension installed from this directory as a real install would, and
// made-up users calling it through the gateway.

const dir = fileURLToPath(new URL('../..', import.meta.url));
let platform: TestPlatform;
let installed: InstalledExtension;

before(async () => {
  platform = await startTestPlatform();
  installed = await platform.install(dir);
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

test('the package holds the console module, and the core serves its remote entry', async () => {
  assert.ok(installed.files.includes('dist/frontend/remoteEntry.js'), installed.files.join(', '));
  assert.ok(!installed.files.some((f) => f.startsWith('frontend/')), 'the frontend\\'s sources stay out of the package');
  const entry = await fetch(\`\${platform.url}/extensions/${name}/assets/dist/frontend/remoteEntry.js\`);
  assert.equal(entry.status, 200);
  assert.match(entry.headers.get('content-type') ?? '', /javascript/);
  assert.match(await entry.text(), /${name.replace(/-/g, '_')}/);
});
`,
    'frontend/index.tsx': frontendIndex(name),
    'frontend/NotesPage.tsx': frontendPage(name),
    '.mortiseignore': `# Left out of the package (gitignore syntax): only what the core runs goes in.
# A leading / anchors at the project root (dist/src/ is the built backend, dist/frontend/ the
# built console module: both stay in).
/src/
/frontend/
/test/
/dist/test/
/packages/
/tsconfig.json
/tsconfig.frontend.json
*.tsbuildinfo
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
directory, and a console page (\`frontend/\`: a navigation item "${title(name)}" and a page that
calls the backend through the core's gateway, in English and Chinese).

| command | what it does |
|---|---|
| \`npm install\` | installs the SDK (\`@mortise/extension-sdk\`), the core the tests run (\`@mortise/core\`, when created with \`--core\`), TypeScript and the frontend's types |
| \`npm run build\` | compiles \`src/\` and \`test/\` into \`dist/\`, type-checks \`frontend/\` and builds it into \`dist/frontend/\` (\`mortise-ext build\`) |
| \`npm test\` | builds, starts a real Mortise core (\`@mortise/core\`, or \`MORTISE_CORE_ENTRY\`: a core's \`dist/bundle/main.js\`), installs this extension into it and runs \`test/\` |
| \`npm run dev -- --core http://127.0.0.1:8080\` | runs the backend and serves the frontend here against a running core; your requests and your console reach them; rebuilds on change |
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

/** The console module's declaration: a navigation item, the page it opens, the texts in English and Chinese. */
function frontendIndex(name: string): string {
  return `import { defineConsoleExtension } from '@mortise/extension-sdk/console';

// What ${name} adds to the console. The page's code is fetched the first time someone opens it.
export default defineConsoleExtension({
  navItems: [{ id: 'notes', title: { en: '${title(name)}', zh: '${title(name)}（笔记）' }, path: '', level: 'platform' }],
  routes: [{ path: '', level: 'platform', component: () => import('./NotesPage.js') }],
  locales: {
    en: { heading: '${title(name)}', says: 'The backend says:', notes: 'Your notes', empty: 'No notes yet.', add: 'Add', placeholder: 'A new note' },
    zh: { heading: '${title(name)}', says: '后端说：', notes: '你的笔记', empty: '还没有笔记。', add: '添加', placeholder: '新笔记' },
  },
});
`;
}

/** The page: calls the backend through the core's gateway with the SDK's client (the session cookie is the credential). */
function frontendPage(name: string): string {
  return `import { useApi } from '@mortise/extension-sdk/console';
import { useEffect, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';

// What the backend answers (src/server.ts).
interface Greeting {
  message: string;
  user: string;
}
interface Notes {
  notes: string[];
}

const base = '/proxy/${name}';

export default function NotesPage() {
  const api = useApi();
  const { t } = useTranslation('ext:${name}');
  const [greeting, setGreeting] = useState<Greeting | undefined>();
  const [notes, setNotes] = useState<string[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    const failed = (e: Error) => setError(e.message);
    api.request<Greeting>(\`\${base}/hello\`).then(setGreeting, failed);
    api.request<Notes>(\`\${base}/notes\`).then((r) => setNotes(r.notes), failed);
  }, [api]);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    try {
      // The client adds the CSRF header the core wants with the session cookie.
      setNotes((await api.request<Notes>(\`\${base}/notes\`, { method: 'POST', json: { text } })).notes);
      setText('');
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <section>
      <h2>{t('heading')}</h2>
      {error && <p role="alert">{error}</p>}
      <p>
        {t('says')} <strong data-testid="${name}-greeting">{greeting?.message ?? '…'}</strong>
      </p>
      <h3>{t('notes')}</h3>
      {notes.length === 0 ? <p>{t('empty')}</p> : <ul>{notes.map((n, i) => <li key={i}>{n}</li>)}</ul>}
      <form onSubmit={add}>
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder={t('placeholder')} aria-label={t('placeholder')} />
        <button type="submit" disabled={text === ''}>{t('add')}</button>
      </form>
    </section>
  );
}
`;
}
