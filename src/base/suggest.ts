/** "Did you mean ...?" for a mistyped word: a REPL command, a config field. */

/**
 * Optimal string alignment distance (Levenshtein plus adjacent transpositions), so that the
 * common typos "tranfer" and "trasnfer" are both one or two edits away.
 */
export function editDistance(a: string, b: string): number {
  const n = a.length;
  const m = b.length;
  // Three rolling rows: transposition needs the row two back.
  let prev2 = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (prev2[j - 2] ?? 0) + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[m] ?? 0;
}

/**
 * The candidate closest to `word`, if it is close enough to be a plausible typo: at most one edit
 * for words up to 4 characters, two beyond; failing that, the first candidate `word` is a prefix
 * of (3 characters or more). Ties go to the earlier candidate.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase();
  const limit = w.length <= 4 ? 1 : 2;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best !== null && bestDistance <= limit && bestDistance < w.length) return best;
  // A truncated word ("balance" for "balanceCents", "snap" for "snapshot") is a plausible slip too.
  return w.length >= 3 ? (candidates.find((c) => c.toLowerCase().startsWith(w)) ?? null) : null;
}
