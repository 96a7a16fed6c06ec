import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The README's and docs' links between each other: every relative file they name exists, and
// every #anchor is a heading of that file (GitHub's slug: the heading's text lower-cased, links
// reduced to their text, punctuation — en dashes and colons too — dropped, spaces made "-",
// repeats numbered) or an <a id>. The docs link their figures by dated headings, so a heading
// renamed or a slug guessed by hand breaks silently otherwise.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.matchAll(/<a id="([^"]+)"/g)) anchors.add(m[1]);
    const heading = /^#{1,6} (.*)/.exec(line);
    if (!heading) continue;
    const s = slug(heading[1]);
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    anchors.add(n === 0 ? s : `${s}-${n}`);
  }
  return anchors;
}

/** Links outside code: [text](target), target relative (no scheme, not absolute). */
function links(text: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z][a-z0-9+.-]*:/i.test(m[1]) && !m[1].startsWith('/')) out.push(m[1]);
    }
  }
  return out;
}

describe('docs links', () => {
  it('slugs headings as GitHub does', () => {
    expect(slug("The nginx plane's Lua in instructions (issue 13, 2026-12-03 00:05–00:15 UTC)")).toBe('the-nginx-planes-lua-in-instructions-issue-13-2026-12-03-00050015-utc');
    expect(slug('Process confinement — [extensions.md](extensions.md#the-process-runtime)')).toBe('process-confinement--extensionsmd');
    expect(slug('The run (`node bench/dist/run.js`; 17 min)')).toBe('the-run-node-benchdistrunjs-17-min');
  });

  it('every relative link names a file that exists and an anchor it has', () => {
    const anchors = new Map(files.map((f) => [f, anchorsOf(readFileSync(join(root, f), 'utf8'))]));
    const broken: string[] = [];
    for (const f of files) {
      for (const link of links(readFileSync(join(root, f), 'utf8'))) {
        const [path, anchor] = link.split('#', 2) as [string, string | undefined];
        const target = path === '' ? f : relative(root, resolve(root, dirname(f), decodeURIComponent(path)));
        if (!existsSync(join(root, target))) {
          broken.push(`${f}: ${link} (no such file)`);
          continue;
        }
        if (anchor === undefined || !target.endsWith('.md')) continue;
        const known = anchors.get(target) ?? anchorsOf(readFileSync(join(root, target), 'utf8'));
        if (!known.has(anchor)) broken.push(`${f}: ${link} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
