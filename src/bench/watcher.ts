/**
 * A live view watching the benchmark's cluster, as a person with the page open would: a
 * `client web` process subscribed to every client, and a reader of its event stream standing in
 * for the browser (it reads every item as it comes and counts them); and what it costs the
 * clients, which `client bench --compare watched` measures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SseReader } from '../base/sse.js';
import type { BenchCluster } from './cluster.js';
import { type LoadShape, ONE_AT_A_TIME, type ThroughputResult } from './load.js';
import { type Timing, measureLoad, warmupFor } from './phases.js';
import { cpuSeconds } from './proc.js';

const CLIENT_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'client.js');

export interface WatchCounts {
  /** Events the page received. */
  readonly events: number;
  /** Events the clients' streams left out (the server fell behind them), summed over clients. */
  readonly droppedByClients: number;
  /** Events the server left out for the page (the page fell behind). */
  readonly droppedByServer: number;
  /** CPU seconds the page's server (`client web`) has used. */
  readonly serverCpuS: number;
}

export class Watcher {
  private events = 0;
  private readonly droppedAt = new Map<number, number>();
  private droppedByServer = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly request: http.ClientRequest,
  ) {}

  /** Starts `client web` on the cluster of `configPath` (data under `root`) and opens its stream. */
  static async start(configPath: string, root: string): Promise<Watcher> {
    const child = spawn(process.execPath, [CLIENT_BIN, 'web', '--port', '0', '--config', configPath, '--data-dir', root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client web printed no address within 15 s: ${said}`)), 15_000);
      const read = (d: Buffer): void => {
        said += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(said);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) => reject(new Error(`client web exited (${code}): ${said}`)));
    });
    let watcher: Watcher | null = null;
    const request = http.get(`${url}events`, (res) => {
      const reader = new SseReader();
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        for (const f of reader.push(d)) watcher?.count(f.data);
      });
    });
    request.on('error', () => {
      // the server went away: the counts stand as they are
    });
    watcher = new Watcher(child, request);
    return watcher;
  }

  private count(data: string): void {
    // Counted without parsing every event, as cheaply as a reader can.
    if (data.startsWith('{"t":"ev"')) {
      this.events++;
      return;
    }
    const item = JSON.parse(data) as { t: string; where?: string; node?: number; count?: number };
    if (item.t !== 'dropped') return;
    if (item.where === 'client') this.droppedAt.set(item.node ?? 0, item.count ?? 0);
    else this.droppedByServer = item.count ?? 0;
  }

  counts(): WatchCounts {
    const pid = this.child.pid;
    return {
      events: this.events,
      droppedByClients: [...this.droppedAt.values()].reduce((a, b) => a + b, 0),
      droppedByServer: this.droppedByServer,
      serverCpuS: (pid === undefined ? null : cpuSeconds(pid)) ?? 0,
    };
  }

  /** Ends the stream and stops `client web` (a second call does nothing). */
  async stop(): Promise<void> {
    this.request.destroy();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}

/** What a page watching costs one cluster, measured on that cluster alone. */
export interface WatchedResult {
  /** contended-1 without, with, with and without a page watching, each for half the duration. */
  readonly contended1: {
    readonly withoutPerSec: number;
    readonly withPerSec: number;
    /** 100 × (1 − with / without). */
    readonly lostPct: number;
    readonly with: ThroughputResult;
    readonly page: WatchCounts;
    /** Cores `client web` used while the page watched. */
    readonly serverCores: number;
  };
  readonly batched: { readonly with: ThroughputResult; readonly page: WatchCounts; readonly serverCores: number };
}

const minus = (a: WatchCounts, b: WatchCounts): WatchCounts => ({
  events: a.events - b.events,
  droppedByClients: a.droppedByClients - b.droppedByClients,
  droppedByServer: a.droppedByServer - b.droppedByServer,
  serverCpuS: a.serverCpuS - b.serverCpuS,
});

/**
 * contended-1 in A-B-B-A order on one cluster (without, with, with, without a page watching), so
 * that the cluster's own differences and a drift of the machine's load weigh on both sides; then
 * batched load with the page watching.
 */
export async function measureWatched(cluster: BenchCluster, t: Timing, load: LoadShape): Promise<WatchedResult> {
  const half = { warmupS: warmupFor(t.durationS / 2), durationS: t.durationS / 2 };
  const a1 = await measureLoad(cluster, cluster.ids, ONE_AT_A_TIME, half);
  const watcher = await Watcher.start(cluster.configPath, cluster.root);
  try {
    let before = watcher.counts();
    let since = Date.now();
    const b1 = await measureLoad(cluster, cluster.ids, ONE_AT_A_TIME, half);
    const b2 = await measureLoad(cluster, cluster.ids, ONE_AT_A_TIME, half);
    const c1Page = minus(watcher.counts(), before);
    const c1Cores = c1Page.serverCpuS / ((Date.now() - since) / 1000);
    before = watcher.counts();
    since = Date.now();
    const batched = await measureLoad(cluster, cluster.ids, load, t);
    const bPage = minus(watcher.counts(), before);
    const bCores = bPage.serverCpuS / ((Date.now() - since) / 1000);
    await watcher.stop();
    const a2 = await measureLoad(cluster, cluster.ids, ONE_AT_A_TIME, half);
    const withoutPerSec = (a1.transfersPerSec + a2.transfersPerSec) / 2;
    const withPerSec = (b1.transfersPerSec + b2.transfersPerSec) / 2;
    return {
      contended1: { withoutPerSec, withPerSec, lostPct: withoutPerSec > 0 ? 100 * (1 - withPerSec / withoutPerSec) : 0, with: b1, page: c1Page, serverCores: c1Cores },
      batched: { with: batched, page: bPage, serverCores: bCores },
    };
  } finally {
    await watcher.stop();
  }
}
