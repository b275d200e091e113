/**
 * Chandy-Lamport on one client: starting a snapshot, the marker rules, each client's report to the
 * initiator (within the frame limit), the initiator's assembly, and giving up, with the reason,
 * on a lost connection or a timeout. The recorder and the assembler themselves are in snapshot.ts.
 *
 * The verdict compares every recorded head with the initiator's own chain, so the initiator
 * assembles once its chain reaches the highest of them. In a consistent cut every recorded block
 * was created before its creator recorded, so its RELEASE (or the push of the blocks a new
 * connection lacks) reached the initiator before that creator's marker: the chain is normally
 * there when the last report comes. Only a catch-up served in several parts can lag behind; the
 * initiator then fetches and waits, at most until the snapshot times out, when the verdict says
 * which heads it could not compare.
 */
import type { GlobalSnapshot } from './api.js';
import type { LamportClock } from './clock.js';
import { MAX_RECORDED_MESSAGES, encodedBytesBound } from './limits.js';
import type { Membership } from './membership.js';
import type { Outbox } from './outbox.js';
import type { NodePolicy } from './policy.js';
import { SnapshotAssembler, type SnapshotRecorder } from './snapshot.js';
import type { ChainAtHead } from './verify.js';
import { type Cents, type LocalSnapshot, type Message, type NodeId, type RecordedState, type SnapshotId, snapshotKey } from './types.js';
import {
  type MissingReport,
  reportTooLarge,
  snapshotConnectionLost,
  snapshotFailedAt,
  snapshotNotStarted,
  snapshotTimedOut,
  tooManyRecorded,
  unexpectedReport,
} from './wording.js';

/** Snapshot ids remembered as finished so a stray marker cannot restart them. */
const FINISHED_MEMORY = 1024;

export interface SnapshotCoordinatorConfig {
  readonly self: NodeId;
  /** Every client id in the cluster, this one included, in id order. */
  readonly nodes: readonly NodeId[];
  /** Every other client, in id order. */
  readonly peers: readonly NodeId[];
  /** The genesis total every recorded balance table must add up to. */
  readonly total: Cents;
  /** Sequence number of this client's first snapshot (ids stay unique across restarts). */
  readonly firstSeq: number;
  /** A snapshot not assembled this long after it started fails, naming who did not report. */
  readonly timeoutMs: number;
  /** The largest message a frame carries: a larger REPORT fails its snapshot. */
  readonly maxMessageBytes: number;
  readonly createRecorder: NodePolicy['createRecorder'];
  /** This client's state, recorded when a snapshot reaches it. */
  readonly recordState: () => RecordedState;
  /** This client's own chain, which the verdict compares every recorded head with. */
  readonly chain: ChainAtHead;
  /** Asks `peer` for the blocks up to `height` this client lacks (a snapshot waits for them); another peer that has them, if `peer` is down. */
  readonly fetchFrom: (peer: NodeId, height: number, now: number) => void;
}

export class SnapshotCoordinator {
  /** The snapshots this client is recording, by key. */
  private readonly recorders = new Map<string, SnapshotRecorder>();
  /** The snapshots this client initiated and is assembling, by key. */
  private readonly assemblers = new Map<string, SnapshotAssembler>();
  /** Assemblers with every report in, waiting for this client's chain to reach a height `holder` has. */
  private readonly waiting = new Map<string, { readonly height: number; readonly holder: NodeId }>();
  private readonly finished = new Set<string>();
  private seq: number;

  constructor(
    private readonly config: SnapshotCoordinatorConfig,
    private readonly clock: LamportClock,
    private readonly membership: Membership,
    private readonly out: Outbox,
  ) {
    this.seq = config.firstSeq;
  }

  /** The sequence number the next snapshot started here will get. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Snapshots being recorded here or assembled here; one this client initiated counts once. */
  get inProgress(): number {
    let n = this.recorders.size;
    for (const key of this.assemblers.keys()) if (!this.recorders.has(key)) n++;
    return n;
  }

  /** A snapshot command: this client initiates. */
  start(commandId: string, now: number): void {
    const id: SnapshotId = { initiator: this.config.self, seq: this.seq++ };
    // A marker must cross every channel: with a peer down the snapshot could only time out.
    const down = this.membership.down();
    if (down.length > 0) {
      this.out.reply(commandId, { type: 'snapshot', ok: false, id, missing: down, error: snapshotNotStarted(id, down) });
      return;
    }
    this.assemblers.set(snapshotKey(id), new SnapshotAssembler(id, this.config.nodes, now, commandId));
    this.record(id, null, now);
  }

  /** Every message received, before it is acted on: a channel being recorded holds it. */
  onMessage(from: NodeId, message: Message): void {
    for (const r of this.recorders.values()) r.onMessage(from, message);
  }

  /**
   * The Marker-Receiving Rule: a first marker records this client's state, its own channel
   * recorded empty; a later one completes the recording of its channel.
   */
  onMarker(from: NodeId, id: SnapshotId, now: number): void {
    const key = snapshotKey(id);
    const recorder = this.recorders.get(key);
    if (recorder) {
      recorder.onMarker(from);
      if (recorder.done) this.finish(recorder, now);
    } else if (!this.finished.has(key)) {
      this.record(id, from, now);
    }
  }

  onReport(from: NodeId, report: Extract<Message, { type: 'REPORT' }>, now: number): void {
    const key = snapshotKey(report.snapshot);
    if (report.snapshot.initiator !== this.config.self || (report.local !== null && report.local.state.node !== from)) {
      this.out.log('warn', { type: 'protocolError', from, error: unexpectedReport(report.snapshot) });
      return;
    }
    if (report.local !== null) {
      this.collect(from, report.snapshot, report.local, now);
      return;
    }
    const assembler = this.assemblers.get(key);
    if (!assembler) return; // timed out already
    this.assemblers.delete(key);
    this.out.log('warn', { type: 'snapshotAbandoned', id: report.snapshot, missing: [from] });
    this.out.reply(assembler.commandId, { type: 'snapshot', ok: false, id: report.snapshot, missing: [from], error: snapshotFailedAt(report.snapshot, report.error) });
  }

  /**
   * A channel still being recorded may have lost messages with the connection: the snapshot
   * cannot be trusted, so this client drops out of it (the initiator times out naming it).
   */
  peerDown(peer: NodeId): void {
    for (const [key, r] of this.recorders) {
      if (!r.isRecording(peer)) continue;
      this.recorders.delete(key);
      this.rememberFinished(key);
      this.out.log('warn', { type: 'snapshotAbandoned', id: r.id, missing: [peer] });
      // The initiator knows now that its own snapshot cannot complete.
      const a = this.assemblers.get(key);
      if (!a) continue;
      this.assemblers.delete(key);
      this.out.reply(a.commandId, { type: 'snapshot', ok: false, id: a.id, missing: a.missing(), error: snapshotConnectionLost(a.id, peer) });
    }
  }

  /**
   * After every step: a snapshot waiting for this client's chain is assembled once it is there;
   * until then the blocks are asked for again as each part of a catch-up comes in.
   */
  afterStep(now: number): void {
    if (this.waiting.size === 0) return;
    for (const [key, { height, holder }] of this.waiting) {
      const a = this.assemblers.get(key);
      if (!a) this.waiting.delete(key);
      else if (this.config.chain.head.height >= height) this.complete(key, a);
      else this.config.fetchFrom(holder, height, now);
    }
  }

  tick(now: number): void {
    for (const [key, a] of this.assemblers) {
      if (now - a.startedAt < this.config.timeoutMs) continue;
      // Every report is in but the chain is not there yet: the verdict says what it could not compare.
      if (this.waiting.has(key)) {
        this.complete(key, a);
        continue;
      }
      this.assemblers.delete(key);
      const missing = a.missing();
      this.out.log('warn', { type: 'snapshotAbandoned', id: a.id, missing });
      this.out.reply(a.commandId, { type: 'snapshot', ok: false, id: a.id, missing, error: snapshotTimedOut(a.id, this.config.timeoutMs, this.whyMissing(key, missing)) });
    }
    for (const [key, r] of this.recorders) {
      if (now - r.startedAt < this.config.timeoutMs) continue;
      this.recorders.delete(key);
      // A marker arriving later must not start it all over again.
      this.rememberFinished(key);
    }
  }

  /**
   * First marker (or initiation): record local state, then a marker on every outgoing channel
   * (the Marker-Sending Rule: after recording, before anything else is sent on it).
   */
  private record(id: SnapshotId, markerFrom: NodeId | null, now: number): void {
    this.out.log(markerFrom === null ? 'info' : 'debug', { type: 'snapshotStarted', id, from: markerFrom });
    const recorder = this.config.createRecorder({ id, state: this.config.recordState(), peers: this.config.peers, markerFrom, startedAt: now });
    this.recorders.set(snapshotKey(id), recorder);
    this.out.broadcast({ type: 'MARKER', ts: this.clock.tick(), snapshot: id });
    if (recorder.done) this.finish(recorder, now);
  }

  private finish(recorder: SnapshotRecorder, now: number): void {
    const self = this.config.self;
    const key = snapshotKey(recorder.id);
    this.recorders.delete(key);
    this.rememberFinished(key);
    this.out.log('debug', { type: 'snapshotRecorded', id: recorder.id });
    const local = recorder.local();
    if (recorder.id.initiator === self) {
      this.collect(self, recorder.id, local, now);
      return;
    }
    const report: Message = { type: 'REPORT', ts: this.clock.tick(), snapshot: recorder.id, local };
    const tooLong = local.channels.find((c) => c.messages.length > MAX_RECORDED_MESSAGES);
    const bytes = tooLong ? 0 : encodedBytesBound(report);
    if (tooLong || bytes > this.config.maxMessageBytes) {
      // Too large for a frame: say so in a small report rather than end the session over it.
      const error = tooLong ? tooManyRecorded(self, tooLong.from, tooLong.messages.length) : reportTooLarge(self, bytes, this.config.maxMessageBytes);
      this.out.log('warn', { type: 'snapshotAbandoned', id: recorder.id, missing: [self] });
      this.out.send(recorder.id.initiator, { type: 'REPORT', ts: report.ts, snapshot: recorder.id, local: null, error });
      return;
    }
    this.out.send(recorder.id.initiator, report);
  }

  private rememberFinished(key: string): void {
    this.finished.add(key);
    if (this.finished.size > FINISHED_MEMORY) this.finished.delete(this.finished.values().next().value!);
  }

  private collect(from: NodeId, id: SnapshotId, local: LocalSnapshot, now: number): void {
    const key = snapshotKey(id);
    const assembler = this.assemblers.get(key);
    if (!assembler) return; // timed out already
    assembler.add(from, local);
    if (!assembler.complete) return;
    const reach = assembler.heightToReach();
    if (this.config.chain.head.height >= reach.height) {
      this.complete(key, assembler);
      return;
    }
    this.waiting.set(key, reach);
    this.config.fetchFrom(reach.holder, reach.height, now);
  }

  private complete(key: string, assembler: SnapshotAssembler): void {
    this.assemblers.delete(key);
    this.waiting.delete(key);
    const snapshot: GlobalSnapshot = assembler.assemble(this.config.total, this.config.chain);
    this.out.snapshotComplete(snapshot);
    this.out.reply(assembler.commandId, { type: 'snapshot', ok: true, snapshot });
  }

  /** Each client whose report did not come, and why as far as this client can tell. */
  private whyMissing(key: string, missing: readonly NodeId[]): MissingReport[] {
    return missing.map((node): MissingReport => {
      if (node === this.config.self) return { kind: 'own', node, waitingFor: this.recorders.get(key)?.recording() ?? [] };
      return { kind: 'peer', node, connected: this.membership.isUp(node) };
    });
  }
}
