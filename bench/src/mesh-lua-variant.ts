import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// A variant directory for mesh-lua-ab.js from a build of the servicemesh extension (its dist/, or a
// copy kept from an earlier commit): its mesh.lua and its nginx.conf, with the plane's directory
// and port left as @DIR@ and @PORT@ (mesh-lua-ab fills them in). Usage:
//   cp -r extensions/servicemesh/dist /tmp/mesh-dist-before        (before a change, built)
//   node bench/dist/mesh-lua-variant.js /tmp/mesh-dist-before /tmp/variant-before
//   node bench/dist/mesh-lua-ab.js base /tmp/variant-before

const [dist, out] = process.argv.slice(2);
if (!dist || !out) throw new Error('usage: mesh-lua-variant.js <servicemesh dist dir> <out dir>');
const { meshLua } = (await import(pathToFileURL(resolve(dist, 'nginx-lua.js')).href)) as { meshLua: string };
const { nginxConfig } = (await import(pathToFileURL(resolve(dist, 'nginx-config.js')).href)) as { nginxConfig: (o: Record<string, unknown>) => string };
const d = '@DIR@';
mkdirSync(out, { recursive: true });
writeFileSync(resolve(out, 'mesh.lua'), meshLua);
// As NginxDataPlane.listen writes it (one worker, as mesh-dataplane-server.js runs it).
writeFileSync(resolve(out, 'nginx.conf'), nginxConfig({ dir: d, port: '@PORT@', host: '127.0.0.1', logFile: `${d}/access.log`, controlSocket: `${d}/control/control.sock`, modulesDir: '/usr/lib/nginx/modules', workerProcesses: 1 }));
