import { InvalidArgumentError, Option } from 'commander';
import { parseDuration } from './output.js';

/** An option taking a duration ("90s", "2m", "1h30m"), parsed to milliseconds. */
export function durationOption(flags: string, description: string, defaultValue: string): Option {
  return new Option(flags, description)
    .argParser((value: string) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as 30s, 2m or 1h');
      return ms;
    })
    .default(parseDuration(defaultValue), defaultValue);
}

/** `--no-wait` of every command that waits for the installer. */
export function noWaitOption(returnsWhen: string): Option {
  return new Option('--no-wait', `return ${returnsWhen}, without waiting for the installer`);
}

/** `--timeout` of every command that waits for the installer. */
export function installerTimeoutOption(): Option {
  return durationOption('--timeout <duration>', 'how long to wait for the installer (it goes on after)', '5m');
}
