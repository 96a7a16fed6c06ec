import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { callgrindArgs } from './instructions.js';
import { applyVariant } from './mesh-variant-files.js';

// What the mesh's nginx plane runs in place of nginx in mesh-lua-ab's instructions mode (through a
// shell script it writes, given to mesh-dataplane-server.js as MESH_NGINX): nginx's configuration
// check as it is; nginx itself under callgrind (instructions.ts), as one process (master_process
// off), with the variant MESH_AB_VARIANT's files written into its directory first (a HUP does not
// reconfigure one process as it does a master's workers). Without the Lua worker's init: its
// timer stops a worker whose master is gone, and with one process there is none (the telemetry is
// still counted: the backend's reads add it to the shared dict).

const args = process.argv.slice(2);
if (args.includes('-t')) process.exit(spawnSync('nginx', args, { stdio: 'inherit' }).status ?? 1);
const dir = args[args.indexOf('-p') + 1]!;
const confFile = args[args.indexOf('-c') + 1]!;
const port = /listen [^:\s]+:(\d+) default_server;/.exec(readFileSync(confFile, 'utf8'))![1]!;
const variant = process.env.MESH_AB_VARIANT;
if (variant && variant !== 'base') applyVariant(variant, dir, port);
const conf = readFileSync(confFile, 'utf8');
if (!conf.includes('init_worker_by_lua_block { mesh.init_worker() }')) throw new Error(`${confFile}: no mesh.init_worker() to leave out`);
writeFileSync(confFile, conf.replace('init_worker_by_lua_block { mesh.init_worker() }', ''));
// The plane's own `-g 'daemon off;'` is replaced (nginx keeps the last -g). Without the HOST that
// spawnServer gives the plane: valgrind names its pipes for callgrind_control by $HOST, which
// callgrind_control, run without it, would not find.
const env = { ...process.env };
delete env.HOST;
const child = spawn('valgrind', [...callgrindArgs(dir), 'nginx', ...args, '-g', 'daemon off; master_process off;'], { stdio: 'inherit', env });
for (const signal of ['SIGTERM', 'SIGQUIT', 'SIGINT', 'SIGUSR1', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
