/**
 * `client bench`: spawns real client processes on loopback, drives them through control-socket
 * connections with many transfers in flight, and prints (and saves as JSON) a table of latency,
 * throughput, snapshot cost and memory beside the loopback floor and the project's targets.
 * Timing never fails a run; only the end check (identical chains, conserved money) does.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BaselineResult, runBaseline } from './baseline.js';
import { BenchCluster, type EndCheck } from './cluster.js';
import { type LoadShape, ONE_AT_A_TIME, type ThroughputResult } from './load.js';
import { type MemoryLongRun, type SnapshotResult, type UncontendedResult, measureLoad, rssOf, runMemory, runSnapshots, runUncontended, warmupFor } from './phases.js';
import { type ProfileSummary, renderProfile, summariseProfiles } from './profile.js';
import { fmt } from './stats.js';
import { type WatchCounts, type WatchedResult, measureWatched } from './watcher.js';
import { type Phase, type Variant, VARIANTS } from './settings.js';

export interface BenchOptions {
  readonly clients: readonly number[];
  readonly durationS: number;
  readonly outstanding: number;
  /** Transfers per control request in the batched, snapshot and memory phases (1: a request each). */
  readonly perRequest: number;
  readonly phases: readonly Phase[];
  readonly transfers: number;
  readonly out: string;
  readonly profile?: string;
  /** Settings compared against the defaults (see VARIANTS). */
  readonly compare: readonly Variant[];
}

export interface VariantResult {
  readonly variant: Variant;
  readonly description: string;
  contended1?: ThroughputResult;
  batched?: ThroughputResult;
  /** `watched`: contended-1 without and with a page, on this cluster alone, and what the page got. */
  watched?: WatchedResult;
  endCheck?: EndCheck;
  profile?: ProfileSummary;
  error?: string;
}

export interface RunResult {
  readonly clients: number;
  /** 3(N-1): what every committed transfer's lock round must cost. */
  readonly expectedMessagesPerBlock: number;
  uncontended?: UncontendedResult;
  contended1?: ThroughputResult;
  batched?: ThroughputResult;
  snapshots?: SnapshotResult;
  memory?: { readonly endRssMiB: Readonly<Record<string, number | null>>; readonly longRun?: MemoryLongRun };
  endCheck?: EndCheck;
  profile?: ProfileSummary;
  error?: string;
  variants?: VariantResult[];
}

export interface Target {
  readonly name: string;
  readonly target: string;
  /** Per cluster size: the figure compared and whether it met the target (null: not measured). */
  readonly byClients: Readonly<Record<string, { readonly value: string; readonly met: boolean } | null>>;
}

export interface BenchResult {
  readonly startedAt: string;
  readonly command: string;
  readonly machine: { readonly nproc: number; readonly cpuModel: string; readonly node: string; readonly platform: string; readonly memoryGiB: number };
  readonly options: BenchOptions;
  baseline?: BaselineResult;
  readonly runs: RunResult[];
  targets: Target[];
  endCheckPassed: boolean;
  file?: string;
}

// ---- the run ---------------------------------------------------------------------------------

/** The batched phases' load: --outstanding per client, --per-request in each request. */
const batchedLoad = (o: BenchOptions): LoadShape => ({ outstanding: o.outstanding, perRequest: o.perRequest });

function machine(): BenchResult['machine'] {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // not Linux
  }
  return { nproc: os.availableParallelism(), cpuModel, node: process.version, platform: `${os.platform()} ${os.release()}`, memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10 };
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function describeThroughput(r: ThroughputResult): string {
  return `${fmt(r.transfersPerSec)} transfers/s, ${fmt(r.blocksPerSec)} blocks/s, ${fmt(r.transfersPerBlock)} per block, ${r.messagesPerBlock ?? r.messagesPerBlockSeen.join('/')} msgs/block, lock wait p50 ${fmt(r.lockWaitMs.p50)} ms p99 ${fmt(r.lockWaitMs.p99)} ms; CPU ${fmt(r.cpuCores.clientsTotal, 2)} cores in clients, ${fmt(r.cpuCores.driver, 2)} in the driver${r.failed ? `; ${r.failed} FAILED` : ''}`;
}

async function runCluster(n: number, o: BenchOptions, baselineP50: number | null): Promise<RunResult> {
  const run: RunResult = { clients: n, expectedMessagesPerBlock: 3 * (n - 1) };
  const root = mkdtempSync(path.join(os.tmpdir(), `ll-bench-${n}-`));
  const profileDir = profileDirFor(o, `n${n}`);
  const cluster = new BenchCluster({ size: n, root, ...(profileDir ? { profileDir } : {}) });
  const t = { warmupS: warmupFor(o.durationS), durationS: o.durationS };
  const has = (p: Phase): boolean => o.phases.includes(p);
  try {
    say(`N=${n}: starting ${n} clients (data in ${root})...`);
    await cluster.up();
    if (has('uncontended')) {
      run.uncontended = await runUncontended(cluster, t, baselineP50);
      const u = run.uncontended;
      say(`N=${n} uncontended: daemon p50 ${fmt(u.daemonMs.p50)} ms p99 ${fmt(u.daemonMs.p99)} ms; client round trip p50 ${fmt(u.clientMs.p50)} ms p99 ${fmt(u.clientMs.p99)} ms; ${u.transfers} transfers`);
    }
    if (has('contended-1')) {
      run.contended1 = await measureLoad(cluster, cluster.ids, ONE_AT_A_TIME, t);
      say(`N=${n} contended-1: ${describeThroughput(run.contended1)}`);
    }
    if (has('batched')) {
      run.batched = await measureLoad(cluster, cluster.ids, batchedLoad(o), t);
      say(`N=${n} batched (${o.outstanding} outstanding per client, ${Math.min(o.perRequest, o.outstanding)} per request): ${describeThroughput(run.batched)}`);
    }
    if (has('snapshots')) {
      run.snapshots = await runSnapshots(cluster, batchedLoad(o), t);
      const s = run.snapshots;
      say(`N=${n} snapshots: idle p50 ${fmt(s.idle.clientMs.p50)} ms p99 ${fmt(s.idle.clientMs.p99)} ms (${s.idle.verified}/${s.idle.taken} verified); under load p50 ${fmt(s.underLoad.clientMs.p50)} ms p99 ${fmt(s.underLoad.clientMs.p99)} ms (${s.underLoad.verified}/${s.underLoad.taken} verified); ${fmt(s.transfersPerSecWithout)} -> ${fmt(s.transfersPerSecWith)} transfers/s with a snapshot every ${s.intervalMs} ms: ${fmt(s.throughputLostPct, 1)}% lost`);
    }
    if (has('memory') && o.transfers > 0) {
      say(`N=${n} memory: batched load until ${o.transfers.toLocaleString('en-US')} transfers are committed, RSS sampled every second...`);
      const longRun = await runMemory(cluster, batchedLoad(o), o.transfers, say);
      run.memory = { endRssMiB: rssOf(cluster), longRun };
      say(`N=${n} memory: ${longRun.committed.toLocaleString('en-US')} committed in ${fmt(longRun.seconds, 1)} s; ${Object.entries(longRun.perClient).map(([k, v]) => `client${k} ${fmt(v.start, 1)} -> ${fmt(v.mid, 1)} -> ${fmt(v.end, 1)} MiB`).join(', ')}: ${longRun.flat ? 'flat' : 'NOT flat'}`);
    } else {
      run.memory = { endRssMiB: rssOf(cluster) };
    }
  } catch (e) {
    run.error = e instanceof Error ? e.message : String(e);
    say(`N=${n}: ERROR ${run.error}`);
  }
  try {
    if (cluster.pids().size === n) {
      run.endCheck = await cluster.endCheck();
      if (run.memory) run.memory = { ...run.memory, endRssMiB: rssOf(cluster) };
      say(`N=${n} end check: ${run.endCheck.passed ? 'PASSED' : 'FAILED'}: ${run.endCheck.detail}`);
    } else {
      say(`N=${n} end check: FAILED: not every client is running`);
    }
  } catch (e) {
    run.error ??= e instanceof Error ? e.message : String(e);
    say(`N=${n} end check: FAILED: ${e instanceof Error ? e.message : String(e)}`);
  }
  await cluster.down();
  rmSync(root, { recursive: true, force: true });
  if (o.compare.length > 0) run.variants = [];
  for (const variant of o.compare) run.variants?.push(await runVariant(n, variant, o));
  if (profileDir) run.profile = summariseProfileDir(profileDir, `N=${n}`) ?? undefined;
  return run;
}

/** `<profile>/<name>`, emptied of earlier profiles; undefined without --profile. */
function profileDirFor(o: BenchOptions, name: string): string | undefined {
  if (!o.profile) return undefined;
  const dir = path.resolve(o.profile, name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.cpuprofile')) rmSync(path.join(dir, f));
  return dir;
}

/** Sums up and prints the clients' profiles in `dir`. */
function summariseProfileDir(dir: string, what: string): ProfileSummary | null {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
  if (files.length === 0) {
    say(`${what}: no .cpuprofile written in ${dir}`);
    return null;
  }
  const summary = summariseProfiles(files, 20);
  say(`${what} profile of the clients (${dir}):\n${renderProfile(summary)}`);
  return summary;
}

/** contended-1 and batched on a cluster started with one setting changed. */
async function runVariant(n: number, variant: Variant, o: BenchOptions): Promise<VariantResult> {
  const { description, args, env, watched } = VARIANTS[variant];
  const result: VariantResult = { variant, description };
  const root = mkdtempSync(path.join(os.tmpdir(), `ll-bench-${n}-${variant}-`));
  const profileDir = profileDirFor(o, `n${n}-${variant}`);
  const cluster = new BenchCluster({ size: n, root, clientArgs: args, env, ...(profileDir ? { profileDir } : {}) });
  const t = { warmupS: warmupFor(o.durationS), durationS: o.durationS };
  const pageSaw = (page: WatchCounts, cores: number): string =>
    `the page received ${fmt(page.events, 0)} events; ${fmt(page.droppedByClients, 0)} left out by the clients' streams, ${fmt(page.droppedByServer, 0)} by the server; client web used ${fmt(cores, 2)} cores`;
  try {
    say(`N=${n} ${variant}: starting ${n} clients with ${description}...`);
    await cluster.up();
    if (watched) {
      const w = await measureWatched(cluster, t, batchedLoad(o));
      result.watched = w;
      result.contended1 = w.contended1.with;
      result.batched = w.batched.with;
      say(`N=${n} ${variant} contended-1 on one cluster, without / with / with / without a page (${fmt(o.durationS / 2)} s each): ${fmt(w.contended1.withoutPerSec)} -> ${fmt(w.contended1.withPerSec)} transfers/s: ${fmt(w.contended1.lostPct, 1)}% lost; ${pageSaw(w.contended1.page, w.contended1.serverCores)}`);
      say(`N=${n} ${variant} batched: ${describeThroughput(w.batched.with)}; ${pageSaw(w.batched.page, w.batched.serverCores)}`);
    } else {
      // The load phases asked for (both when --phases names neither).
      const only = o.phases.filter((p) => p === 'contended-1' || p === 'batched');
      if (only.length === 0 || only.includes('contended-1')) {
        result.contended1 = await measureLoad(cluster, cluster.ids, ONE_AT_A_TIME, t);
        say(`N=${n} ${variant} contended-1: ${describeThroughput(result.contended1)}`);
      }
      if (only.length === 0 || only.includes('batched')) {
        result.batched = await measureLoad(cluster, cluster.ids, batchedLoad(o), t);
        say(`N=${n} ${variant} batched: ${describeThroughput(result.batched)}`);
      }
    }
    result.endCheck = await cluster.endCheck();
    say(`N=${n} ${variant} end check: ${result.endCheck.passed ? 'PASSED' : 'FAILED'}: ${result.endCheck.detail}`);
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    say(`N=${n} ${variant}: ERROR ${result.error}`);
  }
  await cluster.down();
  rmSync(root, { recursive: true, force: true });
  if (profileDir) result.profile = summariseProfileDir(profileDir, `N=${n} ${variant}`) ?? undefined;
  return result;
}

// ---- targets and the table -------------------------------------------------------------------

function targets(r: BenchResult): Target[] {
  const per = (f: (run: RunResult) => { value: string; met: boolean } | null): Target['byClients'] => Object.fromEntries(r.runs.map((run) => [String(run.clients), f(run)]));
  const rtt = r.baseline?.rttMs.p50;
  const sync = r.baseline?.fdatasyncMs?.p50;
  /** contended-1 of a compared setting against the defaults': what the setting costs, in %. */
  const costOf = (run: RunResult, variant: Variant, without: 'defaults' | 'variant'): number | null => {
    const mine = run.variants?.find((v) => v.variant === variant)?.contended1?.transfersPerSec;
    const base = run.contended1?.transfersPerSec;
    if (mine == null || base == null || mine <= 0 || base <= 0) return null;
    // The secret is added to the defaults; the trace is taken away from them.
    return without === 'defaults' ? 100 * (1 - mine / base) : 100 * (1 - base / mine);
  };
  const cost = (variant: Variant, without: 'defaults' | 'variant', limit: number): Target['byClients'] =>
    per((run) => {
      const c = costOf(run, variant, without);
      return c == null ? null : { value: `${fmt(c, 1)}%`, met: c <= limit };
    });
  return [
    {
      name: 'uncontended p50 (daemon) / (round trip p50 x 3 + fdatasync p50)',
      target: '<= 1x',
      byClients: per((run) => {
        const daemon = run.uncontended?.daemonMs.p50;
        if (daemon == null || rtt == null || sync == null) return null;
        const ratio = daemon / (3 * rtt + sync);
        return { value: `${fmt(ratio, 2)}x`, met: ratio <= 1 };
      }),
    },
    { name: 'the trace\'s cost in contended-1 (no-trace)', target: '<= 5%', byClients: cost('no-trace', 'variant', 5) },
    { name: 'a cluster secret\'s cost in contended-1 (secret)', target: '<= 10%', byClients: cost('secret', 'defaults', 10) },
    {
      name: 'idle snapshot p50 (daemon) / round trip p50',
      target: '<= 5x',
      byClients: per((run) => {
        const daemon = run.snapshots?.idle.daemonMs.p50;
        if (daemon == null || rtt == null) return null;
        return { value: `${fmt(daemon / rtt, 1)}x`, met: daemon / rtt <= 5 };
      }),
    },
    {
      name: 'batched transfers/s',
      target: '>= 100,000',
      byClients: per((run) => (run.batched ? { value: fmt(run.batched.transfersPerSec), met: run.batched.transfersPerSec >= 100_000 } : null)),
    },
    {
      name: 'throughput lost, snapshot every 100 ms',
      target: '<= 5%',
      byClients: per((run) => (run.snapshots ? { value: `${fmt(run.snapshots.throughputLostPct, 1)}%`, met: run.snapshots.throughputLostPct <= 5 } : null)),
    },
    {
      name: 'RSS per client at the end (MiB, the largest)',
      target: '<= 64',
      byClients: per((run) => {
        const rss = Object.values(run.memory?.endRssMiB ?? {}).filter((v): v is number => v != null);
        return rss.length === 0 ? null : { value: fmt(Math.max(...rss), 0), met: Math.max(...rss) <= 64 };
      }),
    },
    {
      name: 'memory flat over 1,000,000 transfers',
      target: 'flat',
      byClients: per((run) => {
        const l = run.memory?.longRun;
        if (!l) return null;
        return { value: `${l.flat ? 'flat' : 'grows'} over ${l.committed.toLocaleString('en-US')}`, met: l.flat && l.committed >= 1_000_000 };
      }),
    },
  ];
}

function pct(p: { p50: number; p99: number }, digits?: number): string {
  return `${fmt(p.p50, digits)} / ${fmt(p.p99, digits)}`;
}

export function renderTable(r: BenchResult): string {
  const cols = r.runs.map((run) => `N=${run.clients}`);
  const rows: string[][] = [];
  const row = (label: string, f: (run: RunResult) => string): void => {
    rows.push([label, ...r.runs.map((run) => f(run))]);
  };
  const b = r.baseline;
  rows.push(['baseline loopback round trip p50 / p99 (ms)', ...r.runs.map(() => (b ? pct(b.rttMs, 3) : '-'))]);
  rows.push(['baseline append + fdatasync p50 / p99 (ms)', ...r.runs.map(() => (b?.fdatasyncMs ? pct(b.fdatasyncMs, 3) : '-'))]);
  row('uncontended transfer, daemon p50 / p99 (ms)', (x) => (x.uncontended ? pct(x.uncontended.daemonMs) : '-'));
  row('uncontended transfer, client round trip p50 / p99 (ms)', (x) => (x.uncontended ? pct(x.uncontended.clientMs) : '-'));
  row('uncontended p50 / baseline p50 (daemon, client)', (x) => (x.uncontended?.daemonP50OverBaseline != null ? `${fmt(x.uncontended.daemonP50OverBaseline, 1)}x, ${fmt(x.uncontended.clientP50OverBaseline ?? Number.NaN, 1)}x` : '-'));
  for (const [key, label] of [
    ['contended1', 'contended-1'],
    ['batched', `batched (${r.options.outstanding} outstanding/client, ${Math.min(r.options.perRequest, r.options.outstanding)}/request)`],
  ] as const) {
    row(`${label}: transfers/s`, (x) => (x[key] ? fmt(x[key].transfersPerSec) : '-'));
    row(`${label}: blocks/s`, (x) => (x[key] ? fmt(x[key].blocksPerSec) : '-'));
    row(`${label}: transfers per block`, (x) => (x[key] ? fmt(x[key].transfersPerBlock) : '-'));
    row(`${label}: messages per block (3(N-1))`, (x) => (x[key] ? `${x[key].messagesPerBlock ?? x[key].messagesPerBlockSeen.join('/')} (${x.expectedMessagesPerBlock})` : '-'));
    row(`${label}: lock wait p50 / p99 (ms)`, (x) => (x[key] ? pct(x[key].lockWaitMs) : '-'));
    row(`${label}: CPU cores busy, clients + driver`, (x) => (x[key] ? `${fmt(x[key].cpuCores.clientsTotal, 2)} + ${fmt(x[key].cpuCores.driver, 2)}` : '-'));
  }
  row('snapshot idle p50 / p99 (ms)', (x) => (x.snapshots ? pct(x.snapshots.idle.clientMs) : '-'));
  row('snapshot idle, in the daemon, p50 / p99 (ms)', (x) => (x.snapshots ? pct(x.snapshots.idle.daemonMs) : '-'));
  row('snapshot under batched load p50 / p99 (ms)', (x) => (x.snapshots ? pct(x.snapshots.underLoad.clientMs) : '-'));
  row('snapshots verified (idle; under load)', (x) => (x.snapshots ? `${x.snapshots.idle.verified}/${x.snapshots.idle.taken}; ${x.snapshots.underLoad.verified}/${x.snapshots.underLoad.taken}` : '-'));
  row('batched transfers/s without / with snapshots every 100 ms', (x) => (x.snapshots ? `${fmt(x.snapshots.transfersPerSecWithout)} / ${fmt(x.snapshots.transfersPerSecWith)}` : '-'));
  row('throughput lost to snapshots every 100 ms', (x) => (x.snapshots ? `${fmt(x.snapshots.throughputLostPct, 1)}%` : '-'));
  row('RSS per client at the end (MiB)', (x) => (x.memory ? Object.values(x.memory.endRssMiB).map((v) => fmt(v, 0)).join(' / ') : '-'));
  row('memory long run: RSS start -> mid -> end (MiB, max over clients)', (x) => {
    const l = x.memory?.longRun;
    if (!l) return '-';
    const vals = Object.values(l.perClient);
    const mx = (k: 'start' | 'mid' | 'end'): number => Math.max(...vals.map((v) => v[k] ?? Number.NaN));
    return `${fmt(mx('start'), 0)} -> ${fmt(mx('mid'), 0)} -> ${fmt(mx('end'), 0)} (${fmt(l.committed, 0)} transfers)`;
  });
  row('end check: chains identical, money conserved', (x) => (x.endCheck ? (x.endCheck.passed ? 'passed' : 'FAILED') : 'FAILED'));
  for (const variant of r.options.compare) {
    const of = (x: RunResult): VariantResult | undefined => x.variants?.find((v) => v.variant === variant);
    const versus = (mine: ThroughputResult | undefined, base: ThroughputResult | undefined): string =>
      mine ? `${fmt(mine.transfersPerSec)}${base && base.transfersPerSec > 0 ? ` (${mine.transfersPerSec >= base.transfersPerSec ? '+' : ''}${fmt((mine.transfersPerSec / base.transfersPerSec - 1) * 100, 1)}%)` : ''}` : '-';
    row(`${variant}: contended-1 transfers/s (vs defaults)`, (x) => versus(of(x)?.contended1, x.contended1));
    if (VARIANTS[variant].watched) {
      row('watched: contended-1 without / with a page, one cluster (A-B-B-A)', (x) => {
        const w = of(x)?.watched?.contended1;
        return w ? `${fmt(w.withoutPerSec)} / ${fmt(w.withPerSec)} (${fmt(-w.lostPct, 1)}%)` : '-';
      });
    }
    row(`${variant}: batched transfers/s (vs defaults)`, (x) => versus(of(x)?.batched, x.batched));
  }

  const table = (head: string[], body: string[][]): string => {
    const all = [head, ...body];
    const widths = head.map((_, i) => Math.max(...all.map((r0) => (r0[i] ?? '').length)));
    const line = (r0: string[]): string => r0.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
    return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
  };
  const tRows = r.targets.map((t) => [t.name, ...r.runs.map((run) => {
    const v = t.byClients[String(run.clients)];
    return v ? `${v.value} ${v.met ? 'met' : 'short'}` : 'not run';
  }), t.target]);
  return [
    table(['figure', ...cols], rows),
    '',
    table(['target', ...cols, 'target'], tRows),
  ].join('\n');
}

export async function runBench(o: BenchOptions, command: string): Promise<BenchResult> {
  const result: BenchResult = { startedAt: new Date().toISOString(), command, machine: machine(), options: o, runs: [], targets: [], endCheckPassed: true };
  const m = result.machine;
  say(`lamport-ledger benchmark: clients ${o.clients.join(',')}; ${o.durationS} s per phase; phases ${o.phases.join(',')}; ${m.nproc} CPUs (${m.cpuModel}), node ${m.node}`);
  if (o.phases.includes('baseline')) {
    result.baseline = await runBaseline();
    say(`baseline: loopback round trip (length-prefixed msgpackr REQUEST -> REPLY, ${result.baseline.roundTrips} sequential) p50 ${fmt(result.baseline.rttMs.p50, 3)} ms p99 ${fmt(result.baseline.rttMs.p99, 3)} ms; append + fdatasync p50 ${fmt(result.baseline.fdatasyncMs?.p50 ?? Number.NaN, 3)} ms`);
  }
  const clusterPhases = o.phases.some((p) => p !== 'baseline');
  if (clusterPhases) {
    for (const n of o.clients) {
      const run = await runCluster(n, o, result.baseline?.rttMs.p50 ?? null);
      result.runs.push(run);
      if (!run.endCheck?.passed || run.variants?.some((v) => !v.endCheck?.passed)) result.endCheckPassed = false;
    }
  }
  result.targets = targets(result);
  say('');
  say(renderTable(result));
  say('');
  const checked = result.runs.length;
  say(checked === 0 ? 'end check: no cluster was run' : `end check: ${result.endCheckPassed ? 'PASSED' : 'FAILED'} (${result.runs.map((r) => `N=${r.clients}: ${r.endCheck?.detail ?? r.error ?? 'not run'}`).join(' | ')})`);
  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `${result.startedAt.replace(/[:.]/g, '-')}.json`);
  result.file = file;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`results written to ${file}`);
  return result;
}
