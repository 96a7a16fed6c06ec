// `@mortise/extension-sdk/util`: small helpers shared by the SDK and the core.
export { writeFileAtomic, writeFileAtomicSync } from './atomic-write.js';
export { freePort } from './free-port.js';
export { unsafePackagePathReason, normalizePackagePath } from './package-path.js';
export { childPids, isWorkerOf } from './child-processes.js';
