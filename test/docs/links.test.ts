// The documentation cites only what is in the repository: every relative link of the README and of
// docs/*.md names a file that exists, and every `#anchor` a heading of that file (GitHub's slugs).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pages = [
  'README.md',
  ...readdirSync('docs')
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name)),
];

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(page: string): Set<string> {
  const headings = readFileSync(page, 'utf8')
    .split('\n')
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => slugOf(line.replace(/^#+ /, '')));
  return new Set(headings);
}

/** Relative links outside code: `[text](target)`, not URLs. */
function linksOf(page: string): string[] {
  const text = readFileSync(page, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1]!)
    .filter((target) => !/^[a-z]+:/.test(target));
}

describe('the documentation', () => {
  it.each(pages)('%s: every relative link names a file and a heading that exist', (page) => {
    const broken = linksOf(page).filter((target) => {
      const [path, anchor] = target.split('#');
      const file = path ? join(dirname(page), path) : page;
      if (!existsSync(file)) return true;
      return anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor);
    });
    expect(broken).toEqual([]);
  });

  it('cites the design by its page in the repository', () => {
    for (const page of pages) expect(readFileSync(page, 'utf8'), page).not.toMatch(/\bDESIGN\b/);
  });
});
