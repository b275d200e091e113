/**
 * `client cluster run FILE...`: command files against a running local cluster, in the cluster's
 * one language (language.ts), as piped into its prompt: one line after another, `&` not waited
 * for, `# comments`. A whole file is checked before any client starts (`parseScript`: one error
 * per bad line, with a suggestion); a run stops at the first `expect` that does not hold (or a
 * `settle` that never comes), or at `exit`.
 */
import type { NodeId } from '../../core/types.js';
import { KindedError } from '../../base/errors.js';
import type { SnapshotRecord } from '../../daemon/snapshot-record.js';
import { type ClusterLine, parseClusterLine } from './language.js';
import type { ClusterSession } from './session.js';
import { ClusterShell, LineFailed } from './shell.js';

export const ScriptErrorKind = {
  /** A line that is not one of the language, or not for a command file. */
  BadLine: 'BAD_LINE',
  /** An `expect` that did not hold, or a `settle` that did not come. */
  Failed: 'FAILED',
  /** The file cannot be read. */
  Unreadable: 'UNREADABLE',
} as const;
export type ScriptErrorKind = (typeof ScriptErrorKind)[keyof typeof ScriptErrorKind];

/** `wrong.txt:2: expect failed: client1 sees client2 at $11.00, expected $99.00` */
export class ScriptError extends KindedError<ScriptErrorKind> {
  constructor(
    kind: ScriptErrorKind,
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(kind, line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`);
  }
}

/** A line of the file, parsed, with its number. */
export interface ScriptStep {
  readonly no: number;
  readonly text: string;
  readonly line: ClusterLine;
}

export interface Script {
  readonly file: string;
  readonly steps: readonly ScriptStep[];
}

export type ScriptParse = { readonly ok: true; readonly script: Script } | { readonly ok: false; readonly errors: readonly ScriptError[] };

/** Checks a whole command file for the clients `ids`: every line, or every bad line. */
export function parseScript(file: string, content: string, ids: readonly NodeId[]): ScriptParse {
  const steps: ScriptStep[] = [];
  const errors: ScriptError[] = [];
  // A bare command goes where the last `use` before it says, as it will when the file runs.
  let current = ids[0]!;
  content.split('\n').forEach((raw, i) => {
    const parsed = parseClusterLine(raw, { ids, current, where: 'file' });
    if (!parsed.ok) return void errors.push(new ScriptError(ScriptErrorKind.BadLine, file, i + 1, parsed.error));
    const line = parsed.line;
    if (line.type === 'empty') return;
    if (line.type === 'use' && line.client !== null) current = line.client;
    steps.push({ no: i + 1, text: raw.replace(/(?:^|\s)#.*$/, '').trim(), line });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, script: { file, steps } };
}

/**
 * Runs a checked script on a running cluster, logging each line and its answers (and telling
 * `onSnapshot` of each snapshot taken); throws a ScriptError at the first line that failed.
 */
export async function runScript(cluster: ClusterSession, script: Script, log: (line: string) => void, onSnapshot?: (record: SnapshotRecord) => void): Promise<void> {
  const shell = new ClusterShell(cluster, { mode: 'file', json: false, print: (text) => log(`  ${text.replace(/\n/g, '\n  ')}`), ...(onSnapshot === undefined ? {} : { onSnapshot }) });
  try {
    for (const { no, text, line } of script.steps) {
      log(`> ${text}`);
      if (line.type === 'exit') break;
      try {
        await shell.execute(line);
      } catch (e) {
        if (e instanceof LineFailed) throw new ScriptError(ScriptErrorKind.Failed, script.file, no, e.message);
        throw e;
      }
    }
    await shell.finish();
  } finally {
    await shell.close();
  }
}
