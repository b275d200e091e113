/**
 * The documents' generated blocks: a line `<!-- walkthrough: NAME -->` right before a fenced code
 * block, in README.md or in docs/*.md, marks that block as the output of walkthrough NAME.
 * `readBlocks` finds them in one document and `readAllBlocks` in all of them (a name is used once
 * across all), `replaceBlocks` rewrites them, and `comparable` masks what differs from run to run.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const MARKER = /^<!-- walkthrough: ([\w./-]+) -->$/;

export interface Block {
  readonly name: string;
  /** The document, relative to the repository (README.md, docs/CLIENT.md). */
  readonly file: string;
  /** Line index of the opening fence and of the closing fence. */
  readonly open: number;
  readonly close: number;
  readonly text: string;
}

/** The documents that may hold blocks, relative to `root`: README.md, then docs/*.md by name. */
export function documentPaths(root: string): string[] {
  const docs = readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

/** Each document's text, by its path relative to `root`. */
export function readDocuments(root: string): Map<string, string> {
  return new Map(documentPaths(root).map((f) => [f, readFileSync(path.join(root, f), 'utf8')]));
}

export function readBlocks(text: string, file = 'README.md'): Map<string, Block> {
  const lines = text.split('\n');
  const blocks = new Map<string, Block>();
  for (let i = 0; i < lines.length; i++) {
    const m = MARKER.exec(lines[i]!);
    if (m === null) continue;
    const name = m[1]!;
    const open = i + 1;
    if (!lines[open]?.startsWith('```')) throw new Error(`${file} line ${i + 1}: the walkthrough marker for ${name} is not followed by a fenced block`);
    const close = lines.findIndex((l, j) => j > open && l === '```');
    if (close < 0) throw new Error(`${file} line ${open + 1}: the block of ${name} is never closed`);
    if (blocks.has(name)) throw new Error(`${file} line ${i + 1}: a second block named ${name}`);
    blocks.set(name, { name, file, open, close, text: lines.slice(open + 1, close).join('\n') });
  }
  return blocks;
}

/** Every block of every document (path -> text), by name; a name used in two documents is refused. */
export function readAllBlocks(documents: ReadonlyMap<string, string>): Map<string, Block> {
  const all = new Map<string, Block>();
  for (const [file, text] of documents) {
    for (const [name, block] of readBlocks(text, file)) {
      const first = all.get(name);
      if (first !== undefined) throw new Error(`${file} line ${block.open}: a second block named ${name} (the first is in ${first.file} line ${first.open})`);
      all.set(name, block);
    }
  }
  return all;
}

/** The document with each named block's body replaced; every name must have a block in it. */
export function replaceBlocks(text: string, bodies: ReadonlyMap<string, string>, file = 'README.md'): string {
  const blocks = readBlocks(text, file);
  const lines = text.split('\n');
  const ordered = [...bodies.keys()].map((name) => {
    const b = blocks.get(name);
    if (b === undefined) throw new Error(`${file} has no block <!-- walkthrough: ${name} -->`);
    return b;
  });
  // From the bottom up, so earlier line numbers stay valid.
  for (const b of ordered.sort((x, y) => y.open - x.open)) {
    lines.splice(b.open + 1, b.close - b.open - 1, ...bodies.get(b.name)!.split('\n'));
  }
  return lines.join('\n');
}

/**
 * What must match between a document and a fresh run. Masked: durations, wall-clock times,
 * hashes and the transfer keys clients make (random per run: a transfer's key is in its block),
 * the source ports the OS picks, and how many messages wait on an open link (it is writing them
 * out as the answer is made: after a release, some or none), and the clock a snapshot's table
 * shows for each client (it records at the first marker it gets, from the initiator or from a
 * peer, whichever comes first: a race between two paths). Every other clock, lock-queue
 * timestamps, heights and amounts must match.
 */
export function comparable(text: string, o: { numbers?: boolean; anyOrder?: boolean } = {}): string {
  let t = sortChatter(text)
    .replace(/^( *\d+ -> \d+ +open +(?:none|[\d-]+ ms) +)\d+/gm, '$1<n>')
    .replace(/^( +client\d+ +)\d+( +#\d+ )/gm, '$1<clock>$2')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    // A key a client makes: 16 characters of base64url (src/daemon/transfer-key.ts).
    .replace(/(\bkey |"txId":")[A-Za-z0-9_-]{16}(?![A-Za-z0-9_.:-])/g, '$1<key>')
    .replace(/\b[0-9a-f]{64}\b/g, '<hash>')
    .replace(/(#\d+\s+|prev\s+)[0-9a-f]{8}\b/g, '$1<hash8>')
    .replace(/\b\d+(\.\d+)? ?(ms|s)\b/g, '<duration>')
    .replace(/"(ms|elapsedMs)":[\d.]+/g, '"$1":<duration>')
    .replace(/127\.0\.0\.1:\d{5}\b/g, '127.0.0.1:<port>')
    .replace(/\/tmp\/[\w.-]+/g, '<tmp>');
  if (o.numbers === true) t = t.replace(/\d+(\.\d+)?/g, '#');
  // A table's column widths follow its widest cell, so spacing is not compared.
  t = t.replace(/ +/g, ' ').replace(/ +$/gm, '');
  return o.anyOrder === true ? t.split('\n').sort().join('\n') : t;
}

/**
 * Lines a cluster's clients print on their own (`[client2] ...`) come when they come, among
 * themselves and among the prompt's answers: compared as a sorted list after the rest. A client
 * saying that a peer disconnected is left out: when a cluster stops all its clients at once,
 * which of them still sees another go depends on who stops first.
 */
function sortChatter(text: string): string {
  const chatter = (l: string): boolean => /^\[client\d+\] /.test(l);
  const lines = text.split('\n').filter((l) => !/^\[client\d+\] \S+ client\d+ disconnected$/.test(l));
  const own = lines.filter(chatter).sort();
  return (own.length === 0 ? lines : [...lines.filter((l) => !chatter(l)), '-- client lines:', ...own]).join('\n');
}
