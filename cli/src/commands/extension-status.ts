import { Command, InvalidArgumentError } from 'commander';
import { action, loggedInClient } from '../command-kit.js';
import { planView, requirePlan, type PlanView } from '../installplans.js';
import { ago, out, outputOption, printData, renderTable, type OutputFormat } from '../output.js';

export function extensionStatusCommand(): Command {
  return new Command('status')
    .description('show where an installed extension stands: state, version, message, conditions and its last state changes')
    .argument('<name>', 'the extension')
    .option('--history <n>', 'how many of the last state changes to show', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number');
      return Number(v);
    }, 5)
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  mortise extension status hello-world\n  mortise extension status hello-world --history 20 -o yaml')
    .action(action(async (name: string, opts: { history: number; output: OutputFormat }) => {
      const view = planView(await requirePlan(loggedInClient(), name));
      if (opts.output !== 'table') return printData(opts.output, view);
      out(renderStatus(view, opts.history));
    }));
}

function renderStatus(v: PlanView, historyLines: number): string {
  const fields: Array<[string, string]> = [
    ['Name', v.name],
    ['State', v.uninstalling && v.state !== 'Uninstalling' && v.state !== 'UninstallFailed' ? `${v.state} (being uninstalled)` : v.state],
    ['Version', v.version ?? 'none installed yet'],
  ];
  if (v.targetVersion !== v.version) fields.push(['Target version', v.targetVersion]);
  fields.push(['Enabled', v.enabled ? 'yes' : 'no']);
  fields.push(['Message', v.message ?? '-']);
  if (v.progress) fields.push(['Progress', v.progress.step === 'done' ? `done (${v.progress.completed}/${v.progress.total})` : `${v.progress.step} (step ${Math.min(v.progress.completed + 1, v.progress.total)}/${v.progress.total})`]);
  fields.push(['Config', Object.keys(v.config).length ? JSON.stringify(v.config) : 'the extension\'s defaults']);
  fields.push(['On uninstall', v.purgeOnUninstall ? 'delete its data' : 'keep its data']);
  const label = Math.max(...fields.map(([k]) => k.length)) + 2;
  const lines = fields.map(([k, text]) => `${`${k}:`.padEnd(label)} ${text}`);

  lines.push('', 'Conditions:');
  if (v.conditions.length === 0) lines.push('  none yet');
  else {
    const table = renderTable(['TYPE', 'STATUS', 'REASON', 'CHANGED', 'MESSAGE'], v.conditions.map((c) => [
      c.type, c.status, c.reason || '-', ago(c.lastTransitionTime), c.message || '',
    ]));
    lines.push(...table.split('\n').map((l) => `  ${l}`));
  }

  const shown = historyLines > 0 ? v.history.slice(-historyLines) : [];
  lines.push('', `History (${shown.length < v.history.length ? `last ${shown.length} of ${v.history.length}` : `${v.history.length}`}):`);
  if (v.history.length === 0) lines.push('  none yet');
  else if (shown.length) {
    const table = renderTable(['WHEN', 'STATE', 'VERSION', 'MESSAGE'], shown.map((h) => [ago(h.time), h.state, h.version ?? '-', h.message || '']));
    lines.push(...table.split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n');
}
