import { Command } from 'commander';
import { extensionLabel, extensionsPath, extensionVersionsPath, installPlansPath, listAll, type Extension, type ExtensionVersion, type InstallPlan, type List } from '../api.js';
import { action, loggedInClient } from '../command-kit.js';
import { ApiStatusError, CliError } from '../errors.js';
import { extensionView, type ExtensionView, type InstallState } from '../extensions.js';
import { out, outputOption, printData, renderTable, type OutputFormat } from '../output.js';

/** One version as `extension info -o json` prints it. */
export interface VersionView {
  version: string;
  created: string | null;
  /** engines.mortise: the cores it runs on. */
  mortise: string | null;
  compatible: boolean;
  yanked: boolean;
  yankedReason: string | null;
  license: string | null;
  dependencies: Record<string, string>;
  digest: string | null;
  signed: boolean;
}

export interface ExtensionInfo extends ExtensionView {
  homepage: string | null;
  license: string | null;
  versions: VersionView[];
}

export function extensionInfoCommand(): Command {
  return new Command('info')
    .alias('show')
    .description('show an extension: description, provider, versions (yanked, compatible), recommended version, install state')
    .argument('<name>', 'the extension')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  mortise extension info devops\n  mortise extension info devops -o json')
    .action(action(async (name: string, opts: { output: OutputFormat }) => {
      const client = loggedInClient();
      let ext: Extension;
      try {
        ext = await client.get<Extension>(extensionsPath(name));
      } catch (e) {
        if (e instanceof ApiStatusError && e.httpStatus === 404) {
          throw new CliError(`no extension "${name}" in the marketplace`, ['find one with `mortise extension search`; a repository may need a sync (`mortise repo sync NAME`)']);
        }
        throw e;
      }
      const [versions, plan] = await Promise.all([
        listAll((q) => client.get<List<ExtensionVersion>>(extensionVersionsPath(), q), { labelSelector: `${extensionLabel}=${name}` }),
        client.find<InstallPlan>(installPlansPath(name)),
      ]);
      const info = extensionInfo(ext, versions, plan);
      if (opts.output !== 'table') return printData(opts.output, info);
      out(renderInfo(info));
    }));
}

function extensionInfo(ext: Extension, versions: ExtensionVersion[], plan: InstallPlan | undefined): ExtensionInfo {
  const byVersion = new Map(versions.filter((v) => v.spec.extension === ext.metadata.name).map((v) => [v.spec.version, v]));
  // The Extension's status has them newest first (semver); any it does not list yet go after.
  const order = (ext.status?.versions ?? []).map((v) => v.version);
  const rest = [...byVersion.keys()].filter((v) => !order.includes(v)).sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
  const summary = new Map((ext.status?.versions ?? []).map((v) => [v.version, v]));
  const views: VersionView[] = [...order, ...rest].map((version) => {
    const spec = byVersion.get(version)?.spec;
    const s = summary.get(version);
    return {
      version,
      created: spec?.created ?? null,
      mortise: spec?.engines?.mortise ?? null,
      compatible: s?.compatible ?? byVersion.get(version)?.status?.compatible ?? true,
      yanked: s?.yanked ?? spec?.yanked ?? false,
      yankedReason: spec?.yankedReason ?? null,
      license: spec?.license ?? null,
      dependencies: spec?.dependencies ?? {},
      digest: spec?.digest ?? null,
      signed: !!spec?.signature,
    };
  });
  const base = extensionView(ext, plan);
  const main = views.find((v) => v.version === base.recommendedVersion) ?? views.find((v) => v.version === base.latestVersion) ?? views[0];
  return { ...base, homepage: ext.spec?.homepage ?? null, license: main?.license ?? null, versions: views };
}

function renderInfo(info: ExtensionInfo): string {
  const p = info.provider;
  const provider = p ? [p.name, p.email ? `<${p.email}>` : '', p.url ? `(${p.url})` : ''].filter(Boolean).join(' ') : '-';
  const fields: Array<[string, string]> = [
    ['Name', info.name],
    ['Display name', info.displayName],
    ['Description', info.description || '-'],
    ['Provider', provider],
    ['Category', info.category || '-'],
    ['Keywords', info.keywords.length ? info.keywords.join(', ') : '-'],
    ['License', info.license ?? '-'],
    ['Homepage', info.homepage ?? '-'],
    ['Repository', info.repository ?? '-'],
    ['Latest', info.latestVersion ?? '-'],
    ['Recommended', info.recommendedVersion ?? 'none (no version runs on this core)'],
    ['Installed', installedLine(info.installed)],
  ];
  if (info.installed?.message) fields.push(['Install message', info.installed.message]);
  const label = Math.max(...fields.map(([k]) => k.length)) + 2;
  const lines = fields.map(([k, v]) => `${`${k}:`.padEnd(label)} ${v.replace(/\n/g, `\n${' '.repeat(label + 1)}`)}`);

  lines.push('', 'Versions:');
  if (info.versions.length === 0) {
    lines.push('  none');
  } else {
    const table = renderTable(['VERSION', 'PUBLISHED', 'REQUIRES MORTISE', 'NOTES'], info.versions.map((v) => [
      v.version, v.created ? v.created.slice(0, 10) : '-', v.mortise ?? '-', notes(v, info).join(', '),
    ]));
    lines.push(...table.split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

function notes(v: VersionView, info: ExtensionInfo): string[] {
  const marks: string[] = [];
  if (v.version === info.installed?.version) marks.push('installed');
  if (v.version === info.recommendedVersion) marks.push('recommended');
  if (v.version === info.latestVersion) marks.push('latest');
  if (v.yanked) marks.push(v.yankedReason ? `yanked: ${v.yankedReason}` : 'yanked');
  if (!v.compatible) marks.push('incompatible with this core');
  return marks;
}

function installedLine(state: InstallState | null): string {
  if (!state) return 'not installed';
  const parts = [state.state, state.version ?? ''].filter(Boolean).join(' ');
  const target = state.targetVersion && state.targetVersion !== state.version ? ` (target ${state.targetVersion})` : '';
  return `${parts}${target}, ${state.enabled ? 'enabled' : 'disabled'}`;
}
