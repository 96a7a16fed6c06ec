#!/usr/bin/env node
// Builds a real Kubernetes API server (v1.20.2, from Debian's `kubernetes` source package with
// golang-1.19), with its controller manager (garbage collector, namespace controller), once into a cache outside the repository, and makes sure Debian's etcd is there.
// The kubernetes-mode tests run the core against it. A cache hit is instant; the first build
// takes ≈ 11 minutes of two cores. Prints where the binaries are (`--print` prints only that).
//
//   node scripts/kube-apiserver.mjs            build if missing, then print the paths
//   MORTISE_KUBE_CACHE=/dir node scripts/...    another cache directory
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureDebianTools } from './debian-tools.mjs';

export const KUBE_VERSION = 'v1.20.2';
/** Bumped when the build recipe changes, so an old cache is rebuilt. */
const RECIPE = 2;
export const cacheDir = process.env.MORTISE_KUBE_CACHE ?? join(homedir(), '.cache', 'mortise', `kube-apiserver-${KUBE_VERSION}-r${RECIPE}`);
export const apiserverBinary = join(cacheDir, 'bin', 'kube-apiserver');
/** The garbage collector and namespace controller of a cluster live here, not in the API server. */
export const controllerManagerBinary = join(cacheDir, 'bin', 'kube-controller-manager');
export const etcdBinary = '/usr/bin/etcd';
const GO = '/usr/lib/go-1.19/bin/go';
const GOCODE = '/usr/share/gocode/src/github.com';

const say = (line) => process.stderr.write(`[kube-apiserver] ${line}\n`);
const sh = (cmd, opts = {}) => execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'inherit', 'inherit'], ...opts });

/** True when the API server and etcd are both ready to run. */
export function kubeApiserverPresent() {
  return existsSync(apiserverBinary) && existsSync(controllerManagerBinary) && existsSync(etcdBinary);
}

function ensurePackages() {
  ensureDebianTools([
    { cmd: 'etcd', debian: 'etcd-server', why: 'the kubernetes-mode tests run the API server on a real etcd' },
    { cmd: 'go 1.19', check: `test -x ${GO}`, debian: 'golang-1.19', why: 'kube-apiserver 1.20.2 is built from source with Go 1.19' },
    { cmd: 'rsync', debian: 'rsync', why: "kube-apiserver's `make gen_openapi` uses rsync" },
    { cmd: 'reflect2 (Go)', check: `test -d ${GOCODE}/modern-go/reflect2`, debian: 'golang-github-modern-go-reflect2-dev', why: 'the vendored reflect2 crashes on Go ≥ 1.18; Debian\'s does not' },
    { cmd: 'json-iterator (Go)', check: `test -d ${GOCODE}/json-iterator/go`, debian: 'golang-github-json-iterator-go-dev', why: 'goes with the newer reflect2' },
    { cmd: 'dpkg-source', debian: 'dpkg-dev', why: '`apt-get source` unpacks the kubernetes source package' },
  ]);
}

/** `apt-get source` needs a deb-src entry; Debian images ship only `deb`. */
function ensureDebSrc() {
  const listed = spawnSync('sh', ['-c', 'apt-cache showsrc kubernetes 2>/dev/null | grep -q "^Package: kubernetes"']).status === 0;
  if (listed) return;
  if (process.getuid?.() !== 0) {
    say('no deb-src entry for bookworm: add one (Types: deb-src, Suites: bookworm, Components: main) and run apt-get update');
    process.exit(1);
  }
  say('adding a deb-src entry for bookworm (apt-get source kubernetes needs it)');
  writeFileSync('/etc/apt/sources.list.d/mortise-deb-src.sources', [
    'Types: deb-src',
    'URIs: http://deb.debian.org/debian',
    'Suites: bookworm',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
  ].join('\n'));
  sh('apt-get update -qq >/dev/null');
}

function build() {
  const work = join(cacheDir, 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  say(`fetching Debian's kubernetes source into ${work}`);
  sh('apt-get source kubernetes', { cwd: work });
  const srcName = readdirSync(work).find((n) => n.startsWith('kubernetes-') && !n.endsWith('.dsc') && !n.includes('.tar'));
  if (!srcName || !existsSync(join(work, srcName, 'Makefile'))) throw new Error(`apt-get source left no whole kubernetes-* tree in ${work}`);
  // GOPATH mode: the tree must sit at $GOPATH/src/k8s.io/kubernetes.
  const gopath = join(work, 'gopath');
  const tree = join(gopath, 'src', 'k8s.io', 'kubernetes');
  mkdirSync(join(gopath, 'src', 'k8s.io'), { recursive: true });
  renameSync(join(work, srcName), tree);
  say("replacing the vendored reflect2 and json-iterator with Debian's (the vendored reflect2 crashes on Go ≥ 1.18)");
  for (const [vendored, debian] of [['modern-go/reflect2', 'modern-go/reflect2'], ['json-iterator/go', 'json-iterator/go']]) {
    const target = join(tree, 'vendor', 'github.com', vendored);
    rmSync(target, { recursive: true, force: true });
    sh(`cp -r ${join(GOCODE, debian)} ${target}`);
  }
  // The OpenAPI type check took a value equal to its type's zero value for null by comparing two
  // reflect.Values; since Go 1.19 an empty string's Value equals the zero one, so a custom
  // resource's "" (`apiGroups: [""]`) was refused as "must be of type string: null". Only nil is null.
  for (const file of ['vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go', 'vendor/github.com/go-openapi/validate/type.go']) {
    const path = join(tree, file);
    const text = readFileSync(path, 'utf8');
    const zeroCheck = 'if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {';
    if (!text.includes(zeroCheck)) throw new Error(`${file} no longer has the zero-value check this script patches`);
    writeFileSync(path, text.replace(zeroCheck, 'if data == nil {'));
  }
  const env = {
    ...process.env,
    GOPATH: gopath,
    GOROOT: '/usr/lib/go-1.19',
    PATH: `/usr/lib/go-1.19/bin:${process.env.PATH}`,
    GO111MODULE: 'off',
    GOFLAGS: '',
    GOPROXY: 'off',
    CGO_ENABLED: '0',
    GOCACHE: join(work, 'gocache'),
  };
  say('generating the OpenAPI definitions (make gen_openapi, ≈ 2 min)');
  sh('make gen_openapi', { cwd: tree, env });
  const pkg = 'k8s.io/kubernetes/vendor/k8s.io/component-base/version';
  const ldflags = [`-X ${pkg}.gitVersion=${KUBE_VERSION}`, `-X ${pkg}.gitMajor=1`, `-X ${pkg}.gitMinor=20`, '-s', '-w'].join(' ');
  mkdirSync(join(cacheDir, 'bin'), { recursive: true });
  for (const [cmd, binary, minutes] of [['kube-apiserver', apiserverBinary, 10], ['kube-controller-manager', controllerManagerBinary, 4]]) {
    if (existsSync(binary)) continue;
    say(`compiling cmd/${cmd} (≈ ${minutes} min on two cores)`);
    const out = `${binary}.partial`;
    sh(`${GO} build -tags selinux,notest -ldflags '${ldflags}' -o ${out} ./cmd/${cmd}`, { cwd: tree, env });
    renameSync(out, binary);
  }
  say('build done; removing the build tree');
  rmSync(work, { recursive: true, force: true });
}

/** Makes sure kube-apiserver and etcd exist (building once); returns their paths. */
export function ensureKubeApiserver() {
  if (!existsSync(etcdBinary)) ensurePackages();
  const paths = { apiserver: apiserverBinary, controllerManager: controllerManagerBinary, etcd: etcdBinary };
  if (existsSync(apiserverBinary) && existsSync(controllerManagerBinary)) return paths;
  ensurePackages();
  ensureDebSrc();
  const started = Date.now();
  say(`building kube-apiserver ${KUBE_VERSION} into ${cacheDir} (once; ≈ 11 min on two cores)`);
  build();
  say(`built in ${Math.round((Date.now() - started) / 1000)} s: ${apiserverBinary}, ${controllerManagerBinary}`);
  return paths;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { apiserver, controllerManager, etcd } = ensureKubeApiserver();
  process.stdout.write(`${apiserver}\n${controllerManager}\n${etcd}\n`);
}
