/**
 * A tiny .cpuprofile summariser (the V8 format `node --cpu-prof` writes): self time aggregated by
 * function + location, and by file. Locations in dist/ are mapped back to src/ through the .js.map
 * files next to them, so a hot spot reads `step (src/core/node.ts:104)`.
 *
 *   node dist/bench/profile.js <file.cpuprofile>... [--top 20]
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileEntry {
  /** `name (location)`; a native function (a syscall wrapper, say) also names the project code that called it. */
  readonly function: string;
  readonly location: string;
  readonly selfMs: number;
  /** Share of the profile's busy time (everything but `(idle)`). */
  readonly busyPct: number;
}

export interface ProfileSummary {
  readonly files: readonly string[];
  readonly totalMs: number;
  readonly idleMs: number;
  readonly busyMs: number;
  readonly top: readonly ProfileEntry[];
  /** Self time per source file (or `(garbage collector)`, `(program)`, `node:...`). */
  readonly byFile: readonly { readonly location: string; readonly selfMs: number; readonly busyPct: number }[];
}

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  let m = maps.get(file);
  if (m !== undefined) return m;
  m = null;
  const mapFile = `${file}.map`;
  if (existsSync(mapFile)) {
    try {
      m = new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')) as SourceMapPayload);
    } catch {
      m = null;
    }
  }
  maps.set(file, m);
  return m;
}

/** `src/core/node.ts:104` for a frame in dist/ (1-based line), else a shortened url. */
function locate(frame: CallFrame): { file: string; at: string } {
  const url = frame.url;
  if (url === '') return { file: frame.functionName || '(native)', at: '' };
  if (!url.startsWith('file://')) return { file: url, at: `${url}:${frame.lineNumber + 1}` };
  const file = fileURLToPath(url);
  const map = sourceMapFor(file);
  if (map) {
    const e = map.findEntry(frame.lineNumber, frame.columnNumber);
    if ('originalSource' in e) {
      const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : path.resolve(path.dirname(file), e.originalSource);
      const rel = path.relative(PACKAGE_ROOT, src);
      return { file: rel, at: `${rel}:${e.originalLine + 1}` };
    }
  }
  const rel = file.startsWith(PACKAGE_ROOT) ? path.relative(PACKAGE_ROOT, file) : file;
  return { file: rel, at: `${rel}:${frame.lineNumber + 1}` };
}

/** Self time in ms per profile node id: sample i lasts until sample i+1 (timeDeltas[i+1]). */
function selfTimes(p: CpuProfile): Map<number, number> {
  const out = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const mean = samples.length ? (p.endTime - p.startTime) / samples.length : 0;
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    const us = Math.max(0, deltas[i + 1] ?? mean);
    out.set(id, (out.get(id) ?? 0) + us / 1000);
  }
  return out;
}

/** Aggregates one or more profiles (e.g. every client of a run) into one summary. */
export function summariseProfiles(files: readonly string[], top = 15): ProfileSummary {
  const byFunction = new Map<string, { fn: string; location: string; via: string | null; ms: number }>();
  const byFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parents = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
    /** The nearest caller in this package's own code (src/, dist/), for native, node: and node_modules frames. */
    const ownCaller = (id: number): string | null => {
      for (let at = parents.get(id); at !== undefined; at = parents.get(at)) {
        const f = nodes.get(at)?.callFrame;
        if (f && f.url.startsWith('file://') && !f.url.includes('/node_modules/')) return `${f.functionName || '(anonymous)'} (${locate(f).at})`;
      }
      return null;
    };
    for (const [id, ms] of selfTimes(p)) {
      const n = nodes.get(id);
      if (!n) continue;
      total += ms;
      const name = n.callFrame.functionName || '(anonymous)';
      if (name === '(idle)') {
        idle += ms;
        continue;
      }
      const { file, at } = locate(n.callFrame);
      const builtin = !name.startsWith('(') && (!n.callFrame.url.startsWith('file://') || n.callFrame.url.includes('/node_modules/'));
      const via = builtin ? ownCaller(id) : null;
      const key = `${name}|${at}|${via ?? ''}`;
      const cur = byFunction.get(key);
      if (cur) cur.ms += ms;
      else byFunction.set(key, { fn: name, location: at, via, ms });
      byFile.set(file, (byFile.get(file) ?? 0) + ms);
    }
  }
  const busy = total - idle;
  const pct = (ms: number): number => (busy > 0 ? Math.round((ms / busy) * 1000) / 10 : 0);
  const r1 = (ms: number): number => Math.round(ms * 10) / 10;
  return {
    files,
    totalMs: r1(total),
    idleMs: r1(idle),
    busyMs: r1(busy),
    top: [...byFunction.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((e) => ({ function: `${e.location ? `${e.fn} (${e.location})` : e.fn}${e.via ? ` <- ${e.via}` : ''}`, location: e.location, selfMs: r1(e.ms), busyPct: pct(e.ms) })),
    byFile: [...byFile.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([location, ms]) => ({ location, selfMs: r1(ms), busyPct: pct(ms) })),
  };
}

export function renderProfile(s: ProfileSummary): string {
  const lines = [
    `${s.files.length} profile(s): ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s busy (${s.totalMs > 0 ? Math.round((s.busyMs / s.totalMs) * 100) : 0}%), ${(s.idleMs / 1000).toFixed(1)} s idle`,
    'top self time (% of busy time):',
    ...s.top.map((e) => `  ${e.busyPct.toFixed(1).padStart(5)}%  ${(e.selfMs / 1000).toFixed(2).padStart(7)} s  ${e.function}`),
    'self time by file:',
    ...s.byFile.map((e) => `  ${e.busyPct.toFixed(1).padStart(5)}%  ${(e.selfMs / 1000).toFixed(2).padStart(7)} s  ${e.location}`),
  ];
  return lines.join('\n');
}

function cli(argv: readonly string[]): void {
  let top = 20;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  if (files.length === 0 || !(top > 0)) {
    process.stderr.write('usage: node dist/bench/profile.js <file.cpuprofile>... [--top N]\n');
    process.exit(2);
  }
  process.stdout.write(`${renderProfile(summariseProfiles(files, top))}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) cli(process.argv.slice(2));
