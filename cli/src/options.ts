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
