/**
 * Finding and reading trace files: data dirs and/or single files to one list of checked events.
 * A data dir stands for its rotated file then its current one (`trace.bin.1`, `trace.bin`), after
 * the JSON lines files of earlier versions if it still holds them (`trace.jsonl.1`, `trace.jsonl`).
 */
import { ROTATED_TRACE_FILE, TRACE_FILE } from '../daemon/trace-writer.js';
import { TRACE_MAGIC } from '../daemon/trace-format.js';
import { decodeTrace } from '../daemon/trace-decode.js';
import { closeSync, createReadStream, openSync, readFileSync, readSync, readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TraceEvent } from '../core/trace-events.js';
import { describeCause } from '../base/errors.js';
import { TraceError, TraceErrorKind } from './errors.js';
import { parseTraceLine } from './parse-event.js';

export { ROTATED_TRACE_FILE, TRACE_FILE };
/** The trace files of earlier versions: one JSON object per line. */
export const JSONL_TRACE_FILE = 'trace.jsonl';
/** Every trace file a data dir may hold, in reading order (oldest first). */
export const TRACE_FILES: readonly string[] = [`${JSONL_TRACE_FILE}.1`, JSONL_TRACE_FILE, ROTATED_TRACE_FILE, TRACE_FILE];
/** How many malformed lines are named in the one report of them; the rest are only counted. */
const MALFORMED_NAMED = 3;

export interface MalformedLine {
  readonly file: string;
  /** Where in the file: a line number from 1, as editors count, or "byte <n>" in a binary file. */
  readonly line: number | string;
  readonly reason: string;
}

export interface TraceFile {
  readonly file: string;
  readonly events: number;
  readonly malformed: number;
}

export interface LoadedTrace {
  /** Every valid event, once (a file named twice, or in a dir and on its own, counts once). */
  readonly events: readonly TraceEvent[];
  readonly files: readonly TraceFile[];
  /** Where saved snapshots may be: each data dir, and the dir of each file named on its own. */
  readonly dataDirs: readonly string[];
  readonly malformed: { readonly count: number; readonly first: readonly MalformedLine[] };
  /** Events seen more than once (same client, run and position). */
  readonly duplicates: number;
}

export interface ResolvedSources {
  readonly files: readonly string[];
  readonly dataDirs: readonly string[];
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

/** The data dirs `<root>/client-*` in client order: where `client <n>` keeps its data by default. */
export function defaultSources(root = 'data'): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    names = [];
  }
  const dirs = names
    .map((name) => ({ name, n: /^client-(\d+)$/.exec(name)?.[1] }))
    .filter((d): d is { name: string; n: string } => d.n !== undefined && statOrNull(path.join(root, d.name))?.isDirectory() === true)
    .sort((a, b) => Number(a.n) - Number(b.n))
    .map((d) => path.join(root, d.name));
  if (dirs.length === 0) {
    throw new TraceError(
      TraceErrorKind.NoSources,
      `no sources given and no ${path.join(root, 'client-*')} data dirs here; name data dirs or trace files, e.g. client trace data/client-1 data/client-2`,
    );
  }
  return dirs;
}

/** The trace files the sources stand for, in reading order, checking each exists. */
export function resolveSources(sources: readonly string[]): ResolvedSources {
  const files: string[] = [];
  const dataDirs: string[] = [];
  for (const source of sources) {
    const st = statOrNull(source);
    if (st === null) throw new TraceError(TraceErrorKind.MissingSource, `no such data dir or trace file: ${source}`);
    if (st.isDirectory()) {
      const found = TRACE_FILES.map((f) => path.join(source, f)).filter((f) => statOrNull(f)?.isFile() === true);
      if (found.length === 0) {
        throw new TraceError(TraceErrorKind.NoTraceFiles, `${source}: no ${TRACE_FILE} or ${ROTATED_TRACE_FILE} in this data dir (has this client run with tracing on?)`);
      }
      files.push(...found);
      dataDirs.push(source);
    } else {
      files.push(source);
      dataDirs.push(path.dirname(source));
    }
  }
  return { files, dataDirs: [...new Set(dataDirs)] };
}

/** Whether a file begins as the binary trace does (else it is read as JSON lines). */
function isBinaryTrace(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(TRACE_MAGIC.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(TRACE_MAGIC);
  } finally {
    closeSync(fd);
  }
}

async function readTraceFile(
  file: string,
  onEvent: (e: TraceEvent) => void,
  onMalformed: (m: MalformedLine) => void,
): Promise<void> {
  if (isBinaryTrace(file)) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (e) {
      throw new TraceError(TraceErrorKind.MissingSource, `cannot read ${file}: ${describeCause(e)}`, { cause: e });
    }
    const decoded = decodeTrace(data);
    for (const e of decoded.events) onEvent(e);
    if (decoded.problem !== null) onMalformed({ file, line: `byte ${decoded.problem.offset}`, reason: decoded.problem.reason });
    return;
  }
  const input = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      const parsed = parseTraceLine(line);
      if (parsed.ok) onEvent(parsed.event);
      else onMalformed({ file, line: n, reason: parsed.reason });
    }
  } catch (e) {
    throw new TraceError(TraceErrorKind.MissingSource, `cannot read ${file}: ${describeCause(e)}`, { cause: e });
  } finally {
    lines.close();
    input.destroy();
  }
}

export async function loadTrace(sources: readonly string[]): Promise<LoadedTrace> {
  const { files, dataDirs } = resolveSources(sources);
  const seen = new Set<string>();
  const events: TraceEvent[] = [];
  const perFile: TraceFile[] = [];
  const first: MalformedLine[] = [];
  let malformedCount = 0;
  let duplicates = 0;
  for (const file of [...new Set(files)]) {
    let fileEvents = 0;
    let fileMalformed = 0;
    await readTraceFile(
      file,
      (e) => {
        const key = `${e.node}\u0000${e.run}\u0000${e.i}`;
        if (seen.has(key)) {
          duplicates++;
          return;
        }
        seen.add(key);
        events.push(e);
        fileEvents++;
      },
      (m) => {
        malformedCount++;
        fileMalformed++;
        if (first.length < MALFORMED_NAMED) first.push(m);
      },
    );
    perFile.push({ file, events: fileEvents, malformed: fileMalformed });
  }
  if (events.length === 0) {
    const why = malformedCount > 0 ? `${malformedCount} line(s), none of them a valid trace event` : 'no events';
    throw new TraceError(TraceErrorKind.EmptyTrace, `empty trace: ${files.join(', ')} hold ${why}`);
  }
  return { events, files: perFile, dataDirs, malformed: { count: malformedCount, first }, duplicates };
}

/** The one report of skipped lines, or null when there were none. */
export function describeMalformed(t: LoadedTrace): string | null {
  const { count, first } = t.malformed;
  if (count === 0) return null;
  const named = first.map((m) => `${m.file}:${m.line} (${m.reason})`).join(', ');
  return `skipped ${count} malformed line${count === 1 ? '' : 's'}: ${named}${count > first.length ? ', ...' : ''}`;
}
