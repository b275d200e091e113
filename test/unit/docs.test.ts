/**
 * The README is a short tour and docs/ holds the depth: the README stays within 300 lines, its map
 * links every file of docs/ (and only files that exist), and every relative link in the README and
 * in docs/*.md points at a file, and a heading, that exist.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { documentPaths, readDocuments } from '../readme/blocks.js';
import { anchors, relativeLinks, section, slug } from '../readme/links.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAX_README_LINES = 300;
/** The README's map of docs/: one line per file. */
const MAP_HEADING = 'Where to read on';

const documents = readDocuments(ROOT);
const readme = documents.get('README.md')!;

describe('the README', () => {
  it(`has at most ${MAX_README_LINES} lines`, () => {
    const lines = readme.replace(/\n$/, '').split('\n').length;
    expect(lines, `README.md has ${lines} lines; its depth belongs in docs/`).toBeLessThanOrEqual(MAX_README_LINES);
  });

  it('maps every file of docs/, one line each, and each file it maps exists', () => {
    const map = section(readme, MAP_HEADING);
    expect(map, `README.md has no "## ${MAP_HEADING}" section`).not.toBe('');
    // One row per file: the row's first link names it.
    const rows = map.split('\n').filter((l) => l.startsWith('|') && relativeLinks(l).length > 0);
    const mapped = rows.map((l) => relativeLinks(l)[0]!.target.replace(/#.*$/, ''));
    for (const target of mapped) expect(existsSync(path.join(ROOT, target)), `README.md maps ${target}, which does not exist`).toBe(true);
    const docs = documentPaths(ROOT).filter((f) => f.startsWith('docs/'));
    expect([...mapped].sort(), `the README's map of docs/ should have one row for each of ${docs.join(', ')}`).toEqual(docs);
  });
});

describe('the documents\' relative links', () => {
  for (const [file, text] of documents) {
    it(`resolve in ${file}`, () => {
      const broken: string[] = [];
      for (const { line, target } of relativeLinks(text)) {
        const [where, anchor] = target.split('#', 2) as [string, string | undefined];
        const resolved = where === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), decodeURIComponent(where));
        if (!existsSync(resolved)) {
          broken.push(`${file}:${line}: ${target}: no such file`);
          continue;
        }
        if (anchor === undefined || anchor === '' || !resolved.endsWith('.md')) continue;
        const heads = resolved === path.join(ROOT, file) ? anchors(text) : anchors(readFileSync(resolved, 'utf8'));
        if (!heads.has(anchor)) broken.push(`${file}:${line}: ${target}: no heading makes #${anchor}`);
      }
      expect(broken).toEqual([]);
    });
  }
});

describe('slug, as GitHub makes a heading\'s anchor', () => {
  it('drops punctuation and code marks, keeps hyphens and underscores, joins words with hyphens', () => {
    expect(slug('Watch it live: `client web`')).toBe('watch-it-live-client-web');
    expect(slug('A page watching (`--compare watched`)')).toBe('a-page-watching---compare-watched');
    expect(slug("The prompt's commands")).toBe('the-prompts-commands');
    expect(slug('What "verified" guarantees')).toBe('what-verified-guarantees');
    expect(slug('Kubernetes (not run on a cluster here)')).toBe('kubernetes-not-run-on-a-cluster-here');
    expect(slug('snake_case and [a link](x.md)')).toBe('snake_case-and-a-link');
  });

  it('numbers a repeated heading, and sees no heading inside a code block', () => {
    expect([...anchors('# A\n## B\n```\n# C\n```\n## B\n')]).toEqual(['a', 'b', 'b-1']);
  });

  it('finds links and images outside code, and leaves web addresses out', () => {
    const text = 'see [x](docs/X.md#y) and ![p](docs/p.png), not `[c](c.md)` nor [w](https://e.org)\n```\n[f](f.md)\n```\n';
    expect(relativeLinks(text)).toEqual([{ line: 1, target: 'docs/X.md#y' }, { line: 1, target: 'docs/p.png' }]);
  });
});
