/**
 * User-facing errors. Each has a `kind` so callers can branch without `instanceof` chains across
 * module copies, and a one-line message that can be shown to a person as is.
 */

export const ErrorKind = {
  /** The cluster config file is missing, unreadable or invalid. */
  Config: 'CONFIG',
  /** Something a user typed (a REPL line, a flag, a control-socket command) is invalid. */
  Input: 'INPUT',
  /** The data directory (chain file, snapshots) could not be read or written. */
  Storage: 'STORAGE',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** An error a user is meant to read, with a `kind` a program can switch on (nats.js style). */
export class KindedError<K extends string> extends Error {
  readonly kind: K;

  constructor(kind: K, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

export class LedgerError extends KindedError<ErrorKind> {}

/** `config/default.json: clients[1].port: must be an integer 1-65535, got "abc"` */
export class ConfigError extends LedgerError {
  /** The config file as the user named it. */
  readonly file: string;
  /** Path of the offending field (`clients[1].port`), or null for whole-file problems. */
  readonly field: string | null;
  /** The message without the file and field prefix. */
  readonly detail: string;

  constructor(file: string, field: string | null, detail: string, options?: { cause?: unknown }) {
    super(ErrorKind.Config, field === null ? `${file}: ${detail}` : `${file}: ${field}: ${detail}`, options);
    this.file = file;
    this.field = field;
    this.detail = detail;
  }
}

export class InputError extends LedgerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorKind.Input, message, options);
  }
}

/** `data/client1/chain.log: cannot write: ENOSPC: no space left on device` */
export class StorageError extends LedgerError {
  /** The file or directory involved. */
  readonly path: string;

  constructor(path: string, detail: string, options?: { cause?: unknown }) {
    super(ErrorKind.Storage, `${path}: ${detail}`, options);
    this.path = path;
  }
}

export function isLedgerError(e: unknown, kind?: ErrorKind): e is LedgerError {
  return e instanceof LedgerError && (kind === undefined || e.kind === kind);
}

/** A short description of a caught value, for wrapping system errors into one-line messages. */
export function describeCause(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== undefined && !e.message.startsWith(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

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
