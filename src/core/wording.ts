/**
 * What the core says to people: the errors of failed commands and the reasons it logs. They sit
 * together so that their wording, which the docs and the tests quote, changes only on purpose.
 */
import type { LockWait } from './api.js';
import { MAX_HELD_BLOCKS, MAX_HELD_BLOCK_BYTES, MAX_RECORDED_MESSAGES, MAX_TX_ID_LENGTH, TX_ID_RULE, formatBytes } from './limits.js';
import { formatCents } from './money.js';
import { type Cents, type NodeId, type SnapshotId, assertNever, snapshotKey } from './types.js';

const seconds = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

const names = (ids: readonly NodeId[]): string => ids.map((i) => `client${i}`).join(', ');

/** Why a request has not got the lock yet, in words for a timeout message. */
export function describeLockWait(w: LockWait): string {
  switch (w.kind) {
    case 'peersDown':
      return `waiting for ${names(w.peers)} to connect`;
    case 'queuedBehind':
      return `waiting for the lock: ${w.entries.map((e) => `client${e.node}'s earlier request (ts ${e.ts})`).join(', ')} ${w.entries.length === 1 ? 'is' : 'are'} ahead in the queue`;
    case 'noLaterMessage':
      return `waiting for the lock: no reply yet from ${names(w.peers)}`;
    case 'catchingUp':
      return `waiting for block #${w.height} from client${w.peer} before entering`;
    case 'oldView':
      return `waiting for the lock: ${names(w.peers)} ${w.peers.length === 1 ? 'has' : 'have'} not yet confirmed the current membership (a peer restarted)`;
    case 'notRequested':
      return 'not requesting the lock';
  }
}

// ---- transfers ----

export const unknownRecipient = (to: NodeId): string => `unknown recipient client${to}`;

export const transferToSelf = (self: NodeId): string => `client${self} cannot transfer to itself`;

export const notAnAmount = (amount: number): string => `amount must be a positive number of cents, got ${amount}`;

export const transferTimedOut = (timeoutMs: number, wait: LockWait): string =>
  `timed out after ${seconds(timeoutMs)} ${describeLockWait(wait)}; nothing was transferred`;

/** A key as an error quotes it: JSON, at most 64 characters of it. */
const quoteKey = (key: string): string => JSON.stringify(key.length <= MAX_TX_ID_LENGTH ? key : `${key.slice(0, MAX_TX_ID_LENGTH)}…`);

export const notAKey = (key: string): string => `invalid transfer key ${quoteKey(key)}: a key is ${TX_ID_RULE}`;

const transferWords = (from: NodeId, to: NodeId, amount: Cents): string => `client${from} -> client${to} ${formatCents(amount)}`;

/** A key committed with other content: the transfer is refused, naming the one the key names. */
export const keyCommittedAs = (block: number, from: NodeId, to: NodeId, amount: Cents): string =>
  `conflict: this key was committed in block #${block} as ${transferWords(from, to, amount)}; a key names one transfer, so nothing was transferred`;

/** A key pending here with other content. */
export const keyPendingAs = (from: NodeId, to: NodeId, amount: Cents): string =>
  `conflict: this key is already pending here as ${transferWords(from, to, amount)}; a key names one transfer, so this one was refused`;

/** Why a block from a peer does not extend the chain. */
export const keyAlreadyCommitted = (height: number, key: string, at: number): string =>
  `block #${height}: transfer key ${quoteKey(key)} is already committed in block #${at}`;

// ---- blocks from peers ----

export const conflictsWithHead = (height: number): string => `conflicts with own block #${height}`;

export const conflictsWithBuffered = 'conflicts with another block received for that height';

export const notTheSendersBlock = (creator: NodeId): string => `a RELEASE carries its sender's own block, this one was created by client${creator}`;

export const tooFarAboveHead = (head: number): string =>
  `more than ${MAX_HELD_BLOCKS.toLocaleString('en-US')} blocks above the head #${head}: not held (a block is fetched when due)`;

export const heldBlocksFull = (count: number, bytes: number): string =>
  `the blocks held above the head (${count.toLocaleString('en-US')}, ${formatBytes(bytes)}) are at their limit of ${formatBytes(MAX_HELD_BLOCK_BYTES)}: not held (a block is fetched when due)`;

// ---- snapshots ----

export const snapshotNotStarted = (id: SnapshotId, down: readonly NodeId[]): string =>
  `snapshot ${snapshotKey(id)} not started: ${names(down)} ${down.length === 1 ? 'is' : 'are'} not connected, and a snapshot needs a marker on every channel`;

export const snapshotConnectionLost = (id: SnapshotId, peer: NodeId): string =>
  `snapshot ${snapshotKey(id)} abandoned: the connection to client${peer} was lost while its channel was being recorded`;

export const snapshotFailedAt = (id: SnapshotId, error: string | undefined): string => `snapshot ${snapshotKey(id)} failed: ${error ?? 'no reason given'}`;

export const unexpectedReport = (id: SnapshotId): string => `unexpected snapshot report ${snapshotKey(id)}`;

export const tooManyRecorded = (self: NodeId, from: NodeId, count: number): string =>
  `client${self} recorded ${count} messages on the channel from client${from}, above the limit of ${MAX_RECORDED_MESSAGES}`;

export const reportTooLarge = (self: NodeId, bytes: number, maxMessageBytes: number): string =>
  `client${self}'s part of the snapshot would take up to ${formatBytes(bytes)}, above the frame limit of ${formatBytes(maxMessageBytes)} (maxFrameBytes)`;

/** Why a client's report is missing at the initiator, as far as the initiator can tell. */
export type MissingReport =
  /** The initiator's own part: `waitingFor` are the channels whose marker had not come (none: it stopped recording). */
  | { readonly kind: 'own'; readonly node: NodeId; readonly waitingFor: readonly NodeId[] }
  | { readonly kind: 'peer'; readonly node: NodeId; readonly connected: boolean };

export const snapshotTimedOut = (id: SnapshotId, timeoutMs: number, missing: readonly MissingReport[]): string =>
  `snapshot ${snapshotKey(id)} timed out after ${seconds(timeoutMs)}: no report from ${missing.map(describeMissing).join('; ')}`;

function describeMissing(m: MissingReport): string {
  switch (m.kind) {
    case 'own':
      return m.waitingFor.length > 0
        ? `client${m.node} (this client) still waited for a marker from ${names(m.waitingFor)}`
        : `client${m.node} (this client) did not finish recording`;
    case 'peer':
      return `client${m.node} (${m.connected ? 'connected, but no report came' : 'not connected'})`;
    default:
      return assertNever(m);
  }
}
