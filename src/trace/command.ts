/**
 * `client trace [sources...]`: the command-line face of the trace viewer.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { isTraceError } from './errors.js';
import type { TraceOptions } from './run.js';
import { DEFAULT_MARGIN } from './window.js';

/** Notes printed at most; the page lists them all. */
const NOTES_PRINTED = 5;

interface TraceCliOptions {
  config?: string;
  /** Where the data dirs are when no sources are named (from the config). */
  dataRoot?: string;
  svg?: string;
  html?: string;
  shiviz?: string;
  jsonl?: string;
  snapshot?: string;
  around?: string;
  margin?: number;
  last?: number;
  from?: number;
  to?: number;
}

const wholeNumber =
  (min: number) =>
  (text: string): number => {
    if (!/^\d{1,12}$/.test(text.trim()) || Number(text) < min) throw new InvalidArgumentError(`expected a whole number${min > 0 ? ` from ${min}` : ''}`);
    return Number(text);
  };

export async function traceAction(sources: readonly string[], o: TraceCliOptions, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  if (o.margin !== undefined && o.around === undefined) {
    err('client trace: --margin only applies to --around <id>');
    return 1;
  }
  const options: TraceOptions = { sources, ...o };
  try {
    const report = await (await import('./run.js')).runTrace(options);
    out(report.summary);
    if (report.snapshot !== null) out(report.snapshot);
    for (const note of report.notes.slice(0, NOTES_PRINTED)) err(`note: ${note}`);
    if (report.notes.length > NOTES_PRINTED) err(`note: ... and ${report.notes.length - NOTES_PRINTED} more${o.html ? ` (all of them in ${o.html})` : ''}`);
    for (const w of report.written) out(`wrote ${w.file} (${w.kind})`);
    if (report.written.length === 0) out('(no output file asked for: add --html FILE, --svg FILE, --shiviz FILE or --jsonl FILE)');
    return 0;
  } catch (e) {
    if (isTraceError(e)) {
      err(`client trace: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

/**
 * `dataRoot`: where a config keeps its clients' data dirs (its `dataDir`), for `client trace`
 * with no sources; the config is `--config`'s, or the one the caller finds by default.
 */
export function registerTrace(program: Command, dataRoot: (config: string | undefined) => string = () => 'data'): void {
  program
    .command('trace')
    .description("draw the clients' protocol traces (<data-dir>/trace.bin): a space-time diagram as SVG or an HTML page, a ShiViz log, or the events as JSON lines")
    .argument('[sources...]', "data dirs (their trace.bin.1 then trace.bin) and/or trace files (default: the config's data dirs, <dataDir>/client-*)")
    .option('-c, --config <file>', 'with no sources, read the data dirs of this config\'s clients (default ./config/default.json, else the built-in one)')
    .option('--svg <file>', 'write the space-time diagram as SVG')
    .option('--html <file>', 'write a self-contained page: the diagram with hover details, a legend, and the snapshot check')
    .option('--shiviz <file>', 'write a log for ShiViz (its first line is the parser expression ShiViz reads)')
    .option('--jsonl <file>', 'write the events as JSON lines, one object each, in causal order (for jq and other tools)')
    .option('--snapshot <id>', "draw this snapshot's cut (e.g. 1.2) and compare its crossing messages with the saved snapshot")
    .option('--around <id>', `show only the events near this snapshot (implies --snapshot <id>)`)
    .option('--margin <n>', `with --around: events kept before the first record and after the last channel recorded (default ${DEFAULT_MARGIN})`, wholeNumber(0))
    .option('--last <n>', 'show only the last N events (in causal order)', wholeNumber(1))
    .option('--from <lamport>', 'show only events whose Lamport clock is at least this', wholeNumber(0))
    .option('--to <lamport>', 'show only events whose Lamport clock is at most this', wholeNumber(0))
    .action(async (sources: string[], o: TraceCliOptions) => {
      process.exitCode = await traceAction(
        sources,
        sources.length === 0 ? { ...o, dataRoot: dataRoot(o.config) } : o,
        (line) => process.stdout.write(`${line}\n`),
        (line) => process.stderr.write(`${line}\n`),
      );
    });
}
