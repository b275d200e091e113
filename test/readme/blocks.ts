/**
 * The README's generated blocks: a line `<!-- walkthrough: NAME -->` right before a fenced code
 * block marks that block as the output of walkthrough NAME. `readBlocks` finds them,
 * `replaceBlocks` rewrites them, and `comparable` masks what differs from run to run.
 */

export const MARKER = /^<!-- walkthrough: ([\w./-]+) -->$/;

export interface Block {
  readonly name: string;
  /** Line index of the opening fence and of the closing fence. */
  readonly open: number;
  readonly close: number;
  readonly text: string;
}

export function readBlocks(readme: string): Map<string, Block> {
  const lines = readme.split('\n');
  const blocks = new Map<string, Block>();
  for (let i = 0; i < lines.length; i++) {
    const m = MARKER.exec(lines[i]!);
    if (m === null) continue;
    const name = m[1]!;
    const open = i + 1;
    if (!lines[open]?.startsWith('```')) throw new Error(`README line ${i + 1}: the walkthrough marker for ${name} is not followed by a fenced block`);
    const close = lines.findIndex((l, j) => j > open && l === '```');
    if (close < 0) throw new Error(`README line ${open + 1}: the block of ${name} is never closed`);
    if (blocks.has(name)) throw new Error(`README line ${i + 1}: a second block named ${name}`);
    blocks.set(name, { name, open, close, text: lines.slice(open + 1, close).join('\n') });
  }
  return blocks;
}

/** The README with each named block's body replaced; every name must have a block. */
export function replaceBlocks(readme: string, bodies: ReadonlyMap<string, string>): string {
  const blocks = readBlocks(readme);
  const lines = readme.split('\n');
  const ordered = [...bodies.keys()].map((name) => {
    const b = blocks.get(name);
    if (b === undefined) throw new Error(`the README has no block <!-- walkthrough: ${name} -->`);
    return b;
  });
  // From the bottom up, so earlier line numbers stay valid.
  for (const b of ordered.sort((x, y) => y.open - x.open)) {
    lines.splice(b.open + 1, b.close - b.open - 1, ...bodies.get(b.name)!.split('\n'));
  }
  return lines.join('\n');
}

/**
 * What must match between the README and a fresh run. Masked: durations, wall-clock times,
 * hashes and the transfer keys clients make (random per run: a transfer's key is in its block),
 * and the source ports the OS picks. Clocks, lock-queue timestamps, heights and amounts must match.
 */
export function comparable(text: string, o: { numbers?: boolean } = {}): string {
  let t = sortChatter(text)
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
  return t.replace(/ +/g, ' ').replace(/ +$/gm, '');
}

/**
 * Lines a cluster's clients print on their own (`[client2] ...`) come when they come, among
 * themselves and among the prompt's answers: compared as a sorted list after the rest.
 */
function sortChatter(text: string): string {
  const chatter = (l: string): boolean => /^\[client\d+\] /.test(l);
  const lines = text.split('\n');
  const own = lines.filter(chatter).sort();
  return own.length === 0 ? text : [...lines.filter((l) => !chatter(l)), '-- client lines:', ...own].join('\n');
}
