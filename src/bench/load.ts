/**
 * The load generator: closed loops, each keeping exactly one request in flight through a control
 * connection and issuing the next as soon as the answer comes. A request is one transfer, or
 * (`perRequest` > 1) that many in one `transfers` request, as a driver with many to make sends
 * them; k transfers outstanding on a client = k / perRequest loops there. Figures are taken over a
 * measurement window that opens after a warm-up.
 */
import type { NodeId } from '../core/types.js';
import type { TransferAnswer } from '../daemon/api.js';
import type { ControlClient } from '../daemon/control/client.js';
import type { BenchCluster } from './cluster.js';
import { cpuSeconds } from './proc.js';
import { type Percentiles, round, summarise } from './stats.js';

/** How a load is made: transfers each client keeps outstanding, and how many go in one request. */
export interface LoadShape {
  readonly outstanding: number;
  readonly perRequest: number;
}

/** One transfer outstanding per client, one request each (contended-1, uncontended). */
export const ONE_AT_A_TIME: LoadShape = { outstanding: 1, perRequest: 1 };

/** The figures of one measurement window. */
export interface ThroughputResult {
  /** Clients issuing transfers, transfers each keeps outstanding, and transfers per request. */
  readonly issuingClients: number;
  readonly outstandingPerClient: number;
  readonly perRequest: number;
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
    private readonly shape: LoadShape,
  ) {}

  start(): void {
    this.running = true;
    const per = Math.max(1, Math.min(this.shape.perRequest, this.shape.outstanding));
    for (const id of this.issuers) {
      const conns = this.cluster.connections(id);
      const others = this.cluster.ids.filter((x) => x !== id);
      for (let k = 0, left = this.shape.outstanding; left > 0; k++, left -= per) {
        this.loops.push(this.loop(conns[k % conns.length]!, others[k % others.length]!, Math.min(per, left)));
      }
    }
  }

  /** `count` transfers of a cent to `to` in one request after another, each issued when the previous is answered. */
  private async loop(conn: ControlClient, to: NodeId, count: number): Promise<void> {
    const orders = Array.from({ length: count }, () => ({ to, amount: 1 }));
    while (this.running) {
      const started = performance.now();
      let answers: readonly TransferAnswer[];
      try {
        answers = count === 1 ? [await conn.transfer(to, 1)] : await conn.transfers(orders);
      } catch (e) {
        if (this.errors.length < 10) this.errors.push(e instanceof Error ? e.message : String(e));
        return;
      }
      const rtt = performance.now() - started;
      for (const t of answers) this.count(t, rtt);
    }
  }

  private count(t: TransferAnswer, rtt: number): void {
    const w = this.window;
    if (t.ok) this.committedTotal++;
    else this.failedTotal++;
    if (w === null) return;
    if (!t.ok) {
      w.failed++;
      const reason = t.status === 'FAILED' ? t.reason : 'withdrawn';
      w.reasons.set(reason, (w.reasons.get(reason) ?? 0) + 1);
      return;
    }
    w.committed++;
    w.rtt.push(rtt);
    w.lockWait.push(t.ms);
    w.blocks.set(t.block, t.batch);
    w.msgs.set(t.msgs, (w.msgs.get(t.msgs) ?? 0) + 1);
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
      outstandingPerClient: this.shape.outstanding,
      perRequest: this.shape.perRequest,
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
