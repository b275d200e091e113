/**
 * Phases 2-6 against a running BenchCluster. Each measures over a window after a warm-up and
 * leaves the cluster settled (nothing queued, every chain at the same head) for the next.
 */
import type { SnapshotAnswer } from '../daemon/api.js';
import type { BenchCluster } from './cluster.js';
import { rssMiB } from './proc.js';
import { Load, type LoadShape, ONE_AT_A_TIME, type ThroughputResult } from './load.js';
import { type Percentiles, median, round, sleep, summarise } from './stats.js';

export interface Timing {
  /** Seconds of load before the window opens. */
  readonly warmupS: number;
  /** Seconds the window stays open. */
  readonly durationS: number;
}

export const warmupFor = (durationS: number): number => Math.min(1, durationS * 0.2);

/** Runs closed-loop transfers from `issuers` (as `shape` says) and measures one window. */
export async function measureLoad(cluster: BenchCluster, issuers: readonly number[], shape: LoadShape, t: Timing, duringWindow?: () => () => Promise<void>): Promise<ThroughputResult> {
  const load = new Load(cluster, issuers, shape);
  load.start();
  await sleep(t.warmupS * 1000);
  load.openWindow();
  const finish = duringWindow?.();
  await sleep(t.durationS * 1000);
  const result = load.closeWindow();
  await load.stop();
  await finish?.();
  if (load.errors.length) throw new Error(`control connection failed during the load: ${load.errors[0]}`);
  await cluster.settle();
  return result;
}

export interface UncontendedResult {
  readonly transfers: number;
  /** Daemon-measured transfer time (`ms`: accepted -> committed). */
  readonly daemonMs: Percentiles;
  /** Round trip seen here, through the control socket. */
  readonly clientMs: Percentiles;
  /** p50 over the baseline round trip p50 (null without a baseline). */
  readonly daemonP50OverBaseline: number | null;
  readonly clientP50OverBaseline: number | null;
  readonly messagesPerBlock: number | null;
}

/** Phase 2: client 1 alone, one transfer at a time. */
export async function runUncontended(cluster: BenchCluster, t: Timing, baselineP50Ms: number | null): Promise<UncontendedResult> {
  const r = await measureLoad(cluster, [cluster.ids[0]!], ONE_AT_A_TIME, t);
  const ratio = (v: number): number | null => (baselineP50Ms && baselineP50Ms > 0 ? round(v / baselineP50Ms, 2) : null);
  return {
    transfers: r.committed,
    daemonMs: r.lockWaitMs,
    clientMs: r.clientRttMs,
    daemonP50OverBaseline: ratio(r.lockWaitMs.p50),
    clientP50OverBaseline: ratio(r.clientRttMs.p50),
    messagesPerBlock: r.messagesPerBlock,
  };
}

class SnapshotSamples {
  client: number[] = [];
  daemon: number[] = [];
  taken = 0;
  verified = 0;
  failed = 0;
  markers: number | null = null;
  lastError: string | null = null;

  record(a: SnapshotAnswer, ms: number): void {
    this.taken++;
    if (a.ok && a.record.verified) {
      this.verified++;
      this.client.push(ms);
      this.daemon.push(a.record.elapsedMs);
      this.markers = a.record.markers;
    } else {
      this.failed++;
      this.lastError = a.ok ? a.record.verdict : a.error;
    }
  }

  result(): SnapshotLatency {
    return { taken: this.taken, verified: this.verified, failed: this.failed, markers: this.markers, clientMs: summarise(this.client), daemonMs: summarise(this.daemon), ...(this.lastError ? { lastError: this.lastError } : {}) };
  }
}

export interface SnapshotLatency {
  readonly taken: number;
  readonly verified: number;
  readonly failed: number;
  /** Markers per snapshot: N(N-1). */
  readonly markers: number | null;
  /** Round trip of the `snapshot` command seen here. */
  readonly clientMs: Percentiles;
  /** The initiator's own measure (`elapsedMs`: start -> every report in). */
  readonly daemonMs: Percentiles;
  readonly lastError?: string;
}

export interface SnapshotResult {
  readonly idle: SnapshotLatency;
  /** Snapshots started every 100 ms from client 1 under full batched load. */
  readonly underLoad: SnapshotLatency;
  readonly intervalMs: number;
  readonly transfersPerSecWithout: number;
  readonly transfersPerSecWith: number;
  /** 100 * (1 - with / without); negative when the run with snapshots happened to be faster. */
  readonly throughputLostPct: number;
  /** The A-B-B-A windows: without, with, with, without. */
  readonly withoutRuns: readonly ThroughputResult[];
  readonly withRuns: readonly ThroughputResult[];
}

export const SNAPSHOT_INTERVAL_MS = 100;

/**
 * Phase 5: sequential snapshots on an idle cluster for the phase duration, then batched load
 * without and with a snapshot started every 100 ms from client 1 (not waiting for the previous).
 */
export async function runSnapshots(cluster: BenchCluster, load: LoadShape, t: Timing): Promise<SnapshotResult> {
  const initiator = cluster.ids[0]!;
  const conn = cluster.connections(initiator)[0]!;
  const idle = new SnapshotSamples();
  for (let i = 0; i < 2; i++) await conn.snapshot(); // warm-up
  const until = performance.now() + t.durationS * 1000;
  while ((performance.now() < until || idle.taken < 5) && idle.taken < 500) {
    const started = performance.now();
    const o = await conn.snapshot();
    idle.record(o, performance.now() - started);
  }

  // Without and with snapshots in A-B-B-A order, each window half the phase duration, so that
  // warm-up, JIT and a growing chain file weigh on both sides alike.
  const issuers = cluster.ids;
  const half: Timing = { warmupS: t.warmupS, durationS: t.durationS / 2 };
  const underLoad = new SnapshotSamples();
  const withSnapshots = (): (() => Promise<void>) => {
    const inFlight: Promise<void>[] = [];
    const fire = (): void => {
      const started = performance.now();
      inFlight.push(conn.snapshot().then((o) => underLoad.record(o, performance.now() - started)));
    };
    const timer = setInterval(fire, SNAPSHOT_INTERVAL_MS);
    return async () => {
      clearInterval(timer);
      await Promise.all(inFlight);
    };
  };
  const withoutRuns: ThroughputResult[] = [];
  const withRuns: ThroughputResult[] = [];
  withoutRuns.push(await measureLoad(cluster, issuers, load, half));
  withRuns.push(await measureLoad(cluster, issuers, load, half, withSnapshots));
  withRuns.push(await measureLoad(cluster, issuers, load, half, withSnapshots));
  withoutRuns.push(await measureLoad(cluster, issuers, load, half));
  const rate = (runs: ThroughputResult[]): number => runs.reduce((a, r) => a + r.committed, 0) / runs.reduce((a, r) => a + r.windowSeconds, 0);
  const without = rate(withoutRuns);
  const withS = rate(withRuns);
  const lost = without > 0 ? 100 * (1 - withS / without) : 0;
  return {
    idle: idle.result(),
    underLoad: underLoad.result(),
    intervalMs: SNAPSHOT_INTERVAL_MS,
    transfersPerSecWithout: round(without, 1),
    transfersPerSecWith: round(withS, 1),
    throughputLostPct: round(lost, 1),
    withoutRuns,
    withRuns,
  };
}

export interface RssSample {
  /** Seconds since the memory phase started. */
  readonly t: number;
  readonly committed: number;
  readonly rssMiB: Readonly<Record<string, number | null>>;
}

export interface MemoryLongRun {
  readonly targetTransfers: number;
  readonly committed: number;
  readonly seconds: number;
  readonly transfersPerSec: number;
  readonly samples: readonly RssSample[];
  /** Per client: RSS before the load, at mid-run and at the end (MiB); see `flatRule`. */
  readonly perClient: Readonly<Record<string, { readonly start: number | null; readonly mid: number | null; readonly end: number | null; readonly growthMidToEndPct: number | null }>>;
  readonly flat: boolean;
  readonly flatRule: string;
}

export const FLAT_RULE =
  'mid = median RSS of the samples taken while 40-60% of the transfers were committed, end = median over 80-100%; flat when, on every client, end <= mid * 1.10 (the second half of the run adds at most 10%: a per-transfer or per-block leak would add about as much as the first half did)';

export function rssOf(cluster: BenchCluster): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [id, pid] of cluster.pids()) {
    const v = rssMiB(pid);
    out[String(id)] = v === null ? null : round(v, 1);
  }
  return out;
}

/** Phase 6 (long run): batched load until `target` transfers are committed; RSS of every client every second. */
export async function runMemory(cluster: BenchCluster, shape: LoadShape, target: number, progress: (line: string) => void): Promise<MemoryLongRun> {
  const samples: RssSample[] = [];
  const load = new Load(cluster, cluster.ids, shape);
  const begin = performance.now();
  samples.push({ t: 0, committed: 0, rssMiB: rssOf(cluster) });
  load.start();
  let lastReport = begin;
  while (load.committedTotal < target) {
    await sleep(1000);
    if (load.errors.length) break;
    const now = performance.now();
    samples.push({ t: round((now - begin) / 1000, 1), committed: load.committedTotal, rssMiB: rssOf(cluster) });
    if (now - lastReport >= 10_000) {
      lastReport = now;
      const last = samples[samples.length - 1]!;
      progress(`  memory: ${last.committed.toLocaleString('en-US')} of ${target.toLocaleString('en-US')} committed (${Math.round(last.committed / last.t).toLocaleString('en-US')}/s); RSS ${Object.entries(last.rssMiB).map(([k, v]) => `client${k} ${v ?? '?'} MiB`).join(', ')}`);
    }
  }
  const seconds = (performance.now() - begin) / 1000;
  await load.stop();
  if (load.errors.length) throw new Error(`control connection failed during the memory run: ${load.errors[0]}`);
  await cluster.settle();
  const committed = load.committedTotal;
  samples.push({ t: round((performance.now() - begin) / 1000, 1), committed, rssMiB: rssOf(cluster) });

  const perClient: Record<string, { start: number | null; mid: number | null; end: number | null; growthMidToEndPct: number | null }> = {};
  let flat = true;
  for (const id of cluster.ids.map(String)) {
    const between = (lo: number, hi: number): number[] =>
      samples.filter((s) => s.committed >= lo * committed && s.committed <= hi * committed).map((s) => s.rssMiB[id]).filter((v): v is number => typeof v === 'number');
    const startV = samples[0]!.rssMiB[id] ?? null;
    const midS = between(0.4, 0.6);
    const endS = between(0.8, 1);
    const mid = midS.length ? median(midS) : null;
    const end = endS.length ? median(endS) : null;
    const growth = mid !== null && end !== null && mid > 0 ? round(100 * (end / mid - 1), 1) : null;
    if (growth === null || growth > 10) flat = false;
    perClient[id] = { start: startV, mid, end, growthMidToEndPct: growth };
  }
  return { targetTransfers: target, committed, seconds: round(seconds, 1), transfersPerSec: round(committed / seconds, 1), samples, perClient, flat, flatRule: FLAT_RULE };
}
