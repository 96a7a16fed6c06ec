/** What `/version` answers: Kubernetes' shape, so kubectl is content. */
export function coreVersion() {
  return {
    major: '1', minor: '30', gitVersion: 'v1.30.0+mortise.0.1.0', gitCommit: '', gitTreeState: 'clean',
    buildDate: '2026-11-22T00:00:00Z', goVersion: `node${process.versions.node}`, compiler: 'tsc', platform: `${process.platform}/${process.arch}`,
    mortiseVersion: '0.1.0',
  };
}
