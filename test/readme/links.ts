/**
 * The documents' relative links: where each one points, and the anchors a document's headings
 * make as GitHub renders them, so that a test can tell that every link resolves.
 */

export interface Link {
  /** 1-based line of the document. */
  readonly line: number;
  readonly target: string;
}

/** Each line outside fenced code blocks, with its 1-based number. */
function prose(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fenced = false;
  text.split('\n').forEach((l, i) => {
    if (/^\s*(```|~~~)/.test(l)) {
      fenced = !fenced;
      return;
    }
    if (!fenced) out.push({ line: i + 1, text: l });
  });
  return out;
}

/** Links and images that point inside the repository (not http:, https:, mailto:), outside code. */
export function relativeLinks(text: string): Link[] {
  const links: Link[] = [];
  for (const { line, text: l } of prose(text)) {
    const outsideCode = l.replace(/`[^`]*`/g, '');
    for (const m of outsideCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z+.-]*:/i.test(target)) continue;
      links.push({ line, target });
    }
  }
  return links;
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .trim()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor the document's headings make (a repeated heading gets -1, -2, ... as on GitHub). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { text: l } of prose(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
    if (m === null) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The lines of the section under `## <heading>`, up to the next heading of that level or above. */
export function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l === `## ${heading}`);
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && /^#{1,2}\s/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}
