/**
 * The base every layer's errors build on: an error a person can read as is, with a `kind` a
 * program can switch on (nats.js style), and one line for whatever a system call threw.
 */

/** An error a user is meant to read, with a `kind` a program can switch on. */
export class KindedError<K extends string> extends Error {
  readonly kind: K;

  constructor(kind: K, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** A short description of a caught value, for wrapping system errors into one-line messages. */
export function describeCause(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== undefined && !e.message.startsWith(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
