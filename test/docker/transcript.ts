/**
 * What a docker test shows in the docs: the commands a person would type and what they printed,
 * with the run's own names (ll-test-<hex>) shown as the docs name them. With UPDATE_DOCS=1 the
 * test writes its transcript between `<!-- NAME: begin -->` and `<!-- NAME: end -->` in a document;
 * without, `drift` says how a fresh run differs from the document, times, hashes and ids aside.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { comparable } from '../readme/blocks.js';

export const updatingDocs = (): boolean => process.env.UPDATE_DOCS === '1';

export class Transcript {
  private readonly lines: string[] = [];

  /** `shownAs`: [this run's name, the name the docs give it], longest first. */
  constructor(private readonly shownAs: readonly (readonly [string, string])[]) {}

  /** `text` with this run's names as the docs give them; a shorter name is padded where it starts a table column. */
  shown(text: string): string {
    let out = text;
    for (const [from, to] of this.shownAs) {
      out = out.replace(new RegExp(`${from}(\\S*)( {2,})`, 'g'), (_m, rest: string, gap: string) => `${to}${rest}${gap}${' '.repeat(Math.max(0, from.length - to.length))}`);
      out = out.replaceAll(from, to);
    }
    return out;
  }

  /** `$ command    # note`, then what it printed (terminal controls and trailing blank lines left out). */
  show(command: string, output = '', note = ''): void {
    this.lines.push(`$ ${this.shown(command)}${note === '' ? '' : `    # ${note}`}`);
    // Compose v1 draws its progress lines with carriage returns and escapes even into a pipe.
    const plain = output.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
    const out = this.shown(plain).replace(/\s+$/, '');
    if (out !== '') this.lines.push(out);
  }

  get text(): string {
    return this.lines.join('\n');
  }
}

function markers(name: string): [string, string] {
  return [`<!-- ${name}: begin -->`, `<!-- ${name}: end -->`];
}

/** The fenced block between the document's `name` markers. */
export function readRun(doc: string, name: string): string {
  const text = readFileSync(doc, 'utf8');
  const [begin, end] = markers(name);
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${doc} has no ${begin} ... ${end} block`);
  return text.slice(a + begin.length, b).replace(/^\n```\n/, '').replace(/\n?```\n$/, '');
}

/** Replaces the fenced block between the document's `name` markers with `body`. */
export function writeRun(doc: string, name: string, body: string): void {
  const text = readFileSync(doc, 'utf8');
  const [begin, end] = markers(name);
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${doc} has no ${begin} ... ${end} block`);
  writeFileSync(doc, `${text.slice(0, a + begin.length)}\n\`\`\`\n${body}\n\`\`\`\n${text.slice(b)}`);
}

/**
 * What must match between a docker run and the document: as for the README's blocks
 * (test/readme/blocks.ts), and also the ids Docker makes (containers, images, networks), the
 * ages it shows ("Up 9 seconds", "2 minutes ago"), and Lamport clocks: containers start and
 * form their sessions in any order, and a snapshot's markers reach a client by either path, so
 * clocks differ from run to run where on one machine's loopback they do not. Heights, balances,
 * amounts and every word must match.
 */
export function comparableRun(text: string): string {
  return comparable(
    text
      .replace(/\b(clock|ts) \d+/g, '$1 <n>')
      .replace(/^(client\d+ +)\d+( +#\d+ )/gm, '$1<n>$2')
      .replace(/\b[0-9a-f]{12}\b/g, '<id>')
      .replace(/\b[0-9a-z]{25}\b/g, '<id>')
      .replace(/\b(Less than a second|About a minute|an? \w+|\d+ \w+) ago\b/g, '<age> ago')
      .replace(/\bUp (Less than a second|About a minute|\d+ \w+)/g, 'Up <age>'),
  );
}

/** Null when the run prints what the document shows, else both versions for the failure message. */
export function drift(doc: string, name: string, run: string): string | null {
  const shown = readRun(doc, name);
  if (comparableRun(shown) === comparableRun(run)) return null;
  return `${doc}'s ${name} block differs from this run (UPDATE_DOCS=1 rewrites it).\n--- the document:\n${shown}\n--- this run:\n${run}\n`;
}
