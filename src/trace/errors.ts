/**
 * What the trace viewer tells a user when its input cannot be used: one line each, with a `kind`
 * a caller (the CLI, the REPL) can branch on.
 */
import { KindedError } from '../base/errors.js';

export const TraceErrorKind = {
  /** A named source (data dir or trace file) does not exist or cannot be read. */
  MissingSource: 'MISSING_SOURCE',
  /** A data dir holds no trace file (trace.bin, trace.bin.1, or an earlier version's trace.jsonl). */
  NoTraceFiles: 'NO_TRACE_FILES',
  /** No source was named and none was found under data/. */
  NoSources: 'NO_SOURCES',
  /** Every source was read, and not one valid event came out of them. */
  EmptyTrace: 'EMPTY_TRACE',
  /** A snapshot id that the trace does not mention. */
  UnknownSnapshot: 'UNKNOWN_SNAPSHOT',
  /** A flag's value makes no sense (a window that keeps nothing, a bad snapshot id). */
  BadOption: 'BAD_OPTION',
  /** An output file could not be written. */
  WriteFailed: 'WRITE_FAILED',
} as const;
export type TraceErrorKind = (typeof TraceErrorKind)[keyof typeof TraceErrorKind];

export class TraceError extends KindedError<TraceErrorKind> {}

export function isTraceError(e: unknown, kind?: TraceErrorKind): e is TraceError {
  return e instanceof TraceError && (kind === undefined || e.kind === kind);
}
