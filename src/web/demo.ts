/**
 * The guided demo: a Chandy-Lamport snapshot that catches a message in flight, on the real
 * clients, paced so that a person can follow it. The first client's link to the last one is held,
 * the first client asks for the lock (a transfer to the second), the last one starts a snapshot,
 * and the link is released: the REQUEST that waited on it reaches the last client while that client
 * records the channel, so the snapshot's channel state holds it, and the cut drawn through the
 * record points has it crossing.
 */
import { describeMessage } from '../core/describe.js';
import { formatCents } from '../core/money.js';
import type { NodeId } from '../core/types.js';
import type { SnapshotAnswer, TransferAnswer } from '../daemon/api.js';
import type { ActionResult } from './actions.js';
import type { ClientFeeds } from './feeds.js';
import type { HistoryItem } from './items.js';

export interface DemoOptions {
  readonly feeds: ClientFeeds;
  readonly nodes: readonly NodeId[];
  readonly publish: (item: HistoryItem) => void;
  /** The pause between steps, for a person to read and watch (default 1.5 s). */
  readonly paceMs?: number;
}

const STEPS = 5;
const AMOUNT = 100;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Demo {
  private running = false;

  constructor(private readonly o: DemoOptions) {}

  async run(): Promise<ActionResult> {
    if (this.running) return { ok: false, text: 'the demo is already running' };
    const { feeds, nodes } = this.o;
    const absent = nodes.filter((id) => feeds.client(id) === null);
    if (nodes.length < 2 || absent.length > 0) {
      return { ok: false, text: `the demo needs every client running and connected${absent.length > 0 ? `; not answering: ${absent.map((id) => `client${id}`).join(', ')}` : ''}` };
    }
    this.running = true;
    const a = nodes[0]!;
    const b = nodes[1]!;
    const c = nodes[nodes.length - 1]!;
    const pace = this.o.paceMs ?? 1500;
    const say = (step: number, text: string, done = false): void => this.o.publish({ t: 'demo', step, of: STEPS, text, done });
    const client = (id: NodeId) => {
      const conn = feeds.client(id);
      if (conn === null) throw new Error(feeds.absent(id));
      return conn;
    };
    let held = false;
    try {
      say(1, `Hold client${a}'s link to client${c}: what client${a} sends to client${c} now waits, in order, none lost (heartbeats still pass, so the session stays up).`);
      await client(a).link(c, { held: true });
      held = true;
      await sleep(pace);
      say(2, `client${a} asks for the lock to send ${formatCents(AMOUNT)} to client${b}: its REQUEST to client${b} arrives at once; the one to client${c} waits on the held link.`);
      const transfer: Promise<TransferAnswer | Error> = client(a).transfer(b, AMOUNT).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
      await sleep(pace);
      say(3, `client${c} starts a snapshot: it records its state and sends a MARKER on every channel; client${a}, recording on that MARKER, sends its own to client${c}, and it waits behind the REQUEST (FIFO).`);
      const snapshot: Promise<SnapshotAnswer | Error> = client(c).snapshot().catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
      await sleep(pace);
      say(4, `Release the link: the REQUEST reaches client${c} while client${c} records the channel from client${a}, so it is part of the snapshot's channel state; the MARKER behind it closes that channel.`);
      await client(a).link(c, { held: false });
      held = false;
      const [t, s] = await Promise.all([transfer, snapshot]);
      const inFlight = s instanceof Error || !s.ok ? [] : s.record.channels.flatMap((ch) => (ch.messages.length > 0 ? [`${ch.from} -> ${ch.to}: ${ch.messages.map(describeMessage).join('; ')}`] : []));
      const snapText = s instanceof Error ? `the snapshot failed: ${s.message}` : s.ok ? `snapshot ${s.record.id}: ${s.record.verdict}; in flight across the cut: ${inFlight.length > 0 ? inFlight.join(', ') : 'nothing'}` : `snapshot ${s.id} failed: ${s.error}`;
      const transferText = t instanceof Error ? `client${a}'s transfer failed: ${t.message}` : t.status === 'SUCCESS' ? `client${a}'s transfer committed block #${t.block} (key ${t.txId})` : t.status === 'FAILED' ? `client${a}'s transfer failed: ${t.error}` : `client${a}'s transfer was withdrawn (key ${t.txId})`;
      const ok = !(s instanceof Error) && s.ok && s.record.verified && inFlight.length > 0;
      say(5, `${snapText}; ${transferText}.`, true);
      return { ok, text: `demo: ${snapText}; ${transferText}` };
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      say(STEPS, `the demo stopped: ${why}`, true);
      return { ok: false, text: `demo: ${why}` };
    } finally {
      if (held) await feeds.client(a)?.link(c, { held: false }).catch(() => null);
      this.running = false;
    }
  }
}
