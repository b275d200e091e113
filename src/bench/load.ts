/**
 * The load generator: closed loops, each keeping exactly one transfer in flight through a control
 * connection and issuing the next as soon as the answer comes. k loops on a client = k transfers
 * outstanding there. Figures are taken over a measurement window that opens after a warm-up.
 */
import type { NodeId } from '../core/types.js';
import type { TransferAnswer } from '../daemon/api.js';
import type { ControlClient } from '../daemon/control/client.js';
import type { BenchCluster } from './cluster.js';
import { cpuSeconds } from './proc.js';
import { type Percentiles, round, summarise } from './stats.js';

/** The figures of one measurement window. */
export interface ThroughputResult {
  /** Clients issuing transfers, and transfers each keeps outstanding. */
  readonly issuingClients: number;
  readonly outstandingPerClient: number;
  readonly windowSeconds: number;
  readonly committed: number;
  readonly failed: number;
  readonly transfersPerSec: number;
  readonly blocks: number;
  readonly blocksPerSec: number;
  readonly transfersPerBlock: number;
  /** Messages of the lock round per block, from each result's `msgs`; one value when uniform. */
  readonly messagesPerBlock: number | null;
  readonly messagesPerBlockSeen: readonly number[];
  /** Daemon-measured time from accepting a transfer to committing it (`ms`): the lock wait. */
  readonly lockWaitMs: Percentiles;
  /** Round trip seen by the load generator (control socket included). */
  readonly clientRttMs: Percentiles;
  /** CPU used during the window, in cores (CPU seconds / window seconds). */
  readonly cpuCores: { readonly clients: Readonly<Record<string, number>>; readonly clientsTotal: number; readonly driver: number };
  readonly failureReasons: Readonly<Record<string, number>>;
}

class Window {
  committed = 0;
  failed = 0;
  readonly lockWait: number[] = [];
  readonly rtt: number[] = [];
  /** Block height -> transfers in it (the `batch` field). */
  readonly blocks = new Map<number, number>();
  readonly msgs = new Map<number, number>();
  readonly reasons = new Map<string, number>();
  readonly started = performance.now();
  readonly driverCpu = process.cpuUsage();
  readonly clientCpu: Map<number, number | null>;

  constructor(pids: Map<number, number>) {
    this.clientCpu = new Map([...pids].map(([id, pid]) => [id, cpuSeconds(pid)]));
  }
}

export class Load {
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private window: Window | null = null;
  /** Transfers committed since start(), window or not. */
  committedTotal = 0;
  failedTotal = 0;
  errors: string[] = [];

  constructor(
    private readonly cluster: BenchCluster,
    private readonly issuers: readonly number[],
    private readonly outstandingPerClient: number,
  ) {}

  start(): void {
    this.running = true;
    for (const id of this.issuers) {
      const conns = this.cluster.connections(id);
      const others = this.cluster.ids.filter((x) => x !== id);
      for (let k = 0; k < this.outstandingPerClient; k++) {
        this.loops.push(this.loop(conns[k % conns.length]!, others[k % others.length]!));
      }
    }
  }

  /** One transfer of a cent to `to` after another, each issued when the previous is answered. */
  private async loop(conn: ControlClient, to: NodeId): Promise<void> {
    while (this.running) {
      const started = performance.now();
      let t: TransferAnswer;
      try {
        t = await conn.transfer(to, 1);
      } catch (e) {
        if (this.errors.length < 10) this.errors.push(e instanceof Error ? e.message : String(e));
        return;
      }
      const done = performance.now();
      const w = this.window;
      if (t.ok) this.committedTotal++;
      else this.failedTotal++;
      if (w === null) continue;
      if (!t.ok) {
        w.failed++;
        const reason = t.status === 'FAILED' ? t.reason : 'withdrawn';
        w.reasons.set(reason, (w.reasons.get(reason) ?? 0) + 1);
        continue;
      }
      w.committed++;
      w.rtt.push(done - started);
      w.lockWait.push(t.ms);
      w.blocks.set(t.block, t.batch);
      w.msgs.set(t.msgs, (w.msgs.get(t.msgs) ?? 0) + 1);
    }
  }

  openWindow(): void {
    this.window = new Window(this.cluster.pids());
  }

  closeWindow(): ThroughputResult {
    const w = this.window;
    if (w === null) throw new Error('bench: no measurement window is open');
    this.window = null;
    const seconds = (performance.now() - w.started) / 1000;
    const driverUsed = process.cpuUsage(w.driverCpu);
    const clients: Record<string, number> = {};
    let clientsTotal = 0;
    for (const [id, pid] of this.cluster.pids()) {
      const before = w.clientCpu.get(id);
      const after = cpuSeconds(pid);
      if (before == null || after === null) continue;
      clients[String(id)] = round((after - before) / seconds, 2);
      clientsTotal += (after - before) / seconds;
    }
    let txInBlocks = 0;
    for (const b of w.blocks.values()) txInBlocks += b;
    const msgsSeen = [...w.msgs.keys()].sort((a, b) => a - b);
    return {
      issuingClients: this.issuers.length,
      outstandingPerClient: this.outstandingPerClient,
      windowSeconds: round(seconds, 3),
      committed: w.committed,
      failed: w.failed,
      transfersPerSec: round(w.committed / seconds, 1),
      blocks: w.blocks.size,
      blocksPerSec: round(w.blocks.size / seconds, 1),
      transfersPerBlock: w.blocks.size ? round(txInBlocks / w.blocks.size, 2) : 0,
      messagesPerBlock: msgsSeen.length === 1 ? msgsSeen[0]! : null,
      messagesPerBlockSeen: msgsSeen,
      lockWaitMs: summarise(w.lockWait),
      clientRttMs: summarise(w.rtt),
      cpuCores: { clients, clientsTotal: round(clientsTotal, 2), driver: round((driverUsed.user + driverUsed.system) / 1e6 / seconds, 2) },
      failureReasons: Object.fromEntries(w.reasons),
    };
  }

  /** Stops issuing and waits for every outstanding transfer to be answered. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops.splice(0));
  }
}
