/**
 * `.mortiseignore`: a subset of .gitignore. One pattern per line, `#` comments, `!` to
 * re-include, a trailing `/` for directories only, a `/` inside the pattern anchors it to the
 * package root (otherwise it matches a name at any depth), and `*`, `?`, `**`, `[...]` globs.
 * The last matching pattern wins.
 */

export const IGNORE_FILE_NAME = '.mortiseignore';

/** Never packed, whatever .mortiseignore says. */
export const ALWAYS_EXCLUDED_NAMES = new Set(['node_modules', '.git', IGNORE_FILE_NAME]);

interface IgnoreRule {
  regex: RegExp;
  negated: boolean;
  directoryOnly: boolean;
  /** Matched against the whole relative path rather than the last segment. */
  anchored: boolean;
}

export type IgnoreMatcher = (relativePath: string, isDirectory: boolean) => boolean;

export function parseIgnoreRules(text: string): IgnoreMatcher {
  const rules = text
    .split(/\r?\n/)
    .map((line) => line.replace(/(?<!\\)\s+$/, ''))
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map(toRule);

  return (relativePath, isDirectory) => {
    const name = relativePath.slice(relativePath.lastIndexOf('/') + 1);
    let ignored = false;
    for (const rule of rules) {
      if (rule.directoryOnly && !isDirectory) continue;
      if (rule.regex.test(rule.anchored ? relativePath : name)) ignored = !rule.negated;
    }
    return ignored;
  };
}

function toRule(line: string): IgnoreRule {
  let pattern = line;
  const negated = pattern.startsWith('!');
  if (negated) pattern = pattern.slice(1);
  if (pattern.startsWith('\\')) pattern = pattern.slice(1);
  const directoryOnly = pattern.endsWith('/');
  if (directoryOnly) pattern = pattern.slice(0, -1);
  const anchored = pattern.includes('/');
  if (pattern.startsWith('/')) pattern = pattern.slice(1);
  return { regex: new RegExp(`^${globToRegexSource(pattern)}$`), negated, directoryOnly, anchored };
}

function globToRegexSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slashAfter = glob[i + 2] === '/';
      out += slashAfter ? '(?:.*/)?' : '.*';
      i += slashAfter ? 2 : 1;
    } else if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
      } else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        out += `[${body}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[++i]!);
    } else {
      out += escapeRegex(c);
    }
  }
  return out;
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
