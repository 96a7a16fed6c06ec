// @mortise/extension-sdk/federation: the build side of console extensions (Node only).
export { sharedModules, packageOf, type SharedModule, type SharedModuleName } from '../console/shared-modules.js';
export { sharedRangeProblems, describeSharedRangeProblem, hostShared, remoteShared, type SharedRangeProblem } from './shared-ranges.js';
export { extensionWebpackConfig, buildFrontend, FrontendBuildError, frontendEntryCandidates, type FrontendBuildOptions, type FrontendBuildResult } from './frontend-build.js';
