// `@mortise/extension-sdk/testing`: a real Mortise core for an extension's own tests.
export {
  startTestPlatform, InstallFailedError,
  type TestPlatform, type TestPlatformOptions, type TestUser, type InstallOptions, type InstalledExtension,
} from './test-platform.js';
export { findCoreEntry } from './core-process.js';
