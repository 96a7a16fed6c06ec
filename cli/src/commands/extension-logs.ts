import { Command, InvalidArgumentError } from 'commander';
import { action, loggedInClient } from '../command-kit.js';

/** `mortise extension logs NAME [-f] [--tail N] [--timestamps]`: the backend's log, as `kubectl logs` shows a pod's. */
export function extensionLogsCommand(): Command {
  return new Command('logs')
    .description("print the log of an installed extension's backend (its stdout and stderr lines); -f keeps following it")
    .argument('<name>', 'the extension')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--tail <n>', 'how many of the last lines to print first', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number');
      return v;
    }, '100')
    .option('--timestamps', 'start each line with the time it was written')
    .option('--version <version>', "another version's backend (during an upgrade), instead of the installed one")
    .addHelpText('after', '\nExamples:\n  mortise extension logs hello-world\n  mortise extension logs hello-world -f --tail 0')
    .action(action(async (name: string, opts: { follow?: boolean; tail: string; timestamps?: boolean; version?: string }) => {
      const client = loggedInClient();
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const query = { tailLines: opts.tail, follow: opts.follow ? 'true' : undefined, timestamps: opts.timestamps ? 'true' : undefined, version: opts.version };
        for await (const chunk of client.textStream(`/kapis/extensions.mortise.io/v1alpha1/extensions/${encodeURIComponent(name)}/logs`, query, controller.signal)) {
          process.stdout.write(chunk);
        }
      } catch (e) {
        if (!controller.signal.aborted) throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    }));
}
