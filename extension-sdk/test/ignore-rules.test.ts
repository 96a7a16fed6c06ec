import { describe, expect, it } from 'vitest';
import { parseIgnoreRules } from '../src/index.js';

describe('.mortiseignore rules', () => {
  const ignored = parseIgnoreRules(
    ['# comment', '', '*.log', '!important.log', 'build/', '/TODO', 'docs/**/*.draft.md', 'tmp?', '[Tt]humbs.db', '\\#hash'].join('\n'),
  );

  it.each([
    ['a.log', false, true],
    ['deep/dir/a.log', false, true],
    ['important.log', false, false],
    ['build', true, true],
    ['build', false, false],
    ['src/build', true, true],
    ['TODO', false, true],
    ['src/TODO', false, false],
    ['docs/a.draft.md', false, true],
    ['docs/x/y/a.draft.md', false, true],
    ['docs/a.md', false, false],
    ['tmp1', false, true],
    ['tmp12', false, false],
    ['Thumbs.db', false, true],
    ['thumbs.db', false, true],
    ['#hash', false, true],
    ['src/index.ts', false, false],
  ])('%s (directory: %s) → ignored: %s', (path, isDirectory, expected) => {
    expect(ignored(path, isDirectory)).toBe(expected);
  });

  it('ignores nothing when empty', () => {
    expect(parseIgnoreRules('')('anything', false)).toBe(false);
  });
});
