/**
 * One line of a trace file to a checked TraceEvent, or the reason it is not one. Files are written
 * by running processes and may end in a half-written line or be edited by hand, so nothing here
 * throws: the loader counts what fails.
 */
import { TRACE_VERSION, type TraceEvent, type TraceEventKind, type TraceMessageType } from '../core/trace-events.js';

export type ParsedLine = { readonly ok: true; readonly event: TraceEvent } | { readonly ok: false; readonly reason: string };

type Fields = Readonly<Record<string, unknown>>;

const isObject = (x: unknown): x is Fields => typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
const isNodeId = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 1;
const isText = (x: unknown): boolean => typeof x === 'string';
const isName = (x: unknown): boolean => typeof x === 'string' && x.length > 0;
const isSnapshotId = (x: unknown): boolean => typeof x === 'string' && /^\d+\.\d+$/.test(x);

// A Record over the union, so a message type added to the format fails to compile here until handled.
const MESSAGE_TYPES: Readonly<Record<TraceMessageType, true>> = {
  REQUEST: true,
  REPLY: true,
  RELEASE: true,
  MARKER: true,
  REPORT: true,
  BLOCKS: true,
  FETCH: true,
};
const isMessageType = (x: unknown): boolean => typeof x === 'string' && Object.hasOwn(MESSAGE_TYPES, x);

type Check = readonly [field: string, test: (x: unknown) => boolean, expected: string];

const messageChecks = (peer: 'to' | 'from'): Check[] => [
  [peer, isNodeId, 'a client id'],
  ['chan', isName, 'a channel name'],
  ['seq', (x) => Number.isSafeInteger(x) && (x as number) >= 1, 'a sequence number from 1'],
  ['type', isMessageType, `one of ${Object.keys(MESSAGE_TYPES).join(', ')}`],
  ['ts', isCount, 'a Lamport timestamp'],
  ['desc', isText, 'a description'],
  ['clock', isCount, 'a Lamport clock'],
  ['snapshot', (x) => x === undefined || isSnapshotId(x), 'a snapshot id like 3.1'],
];

/** The fields each kind must have beyond the common ones; a Record so every kind is covered. */
const KIND_CHECKS: Readonly<Record<TraceEventKind, readonly Check[]>> = {
  start: [
    ['nodes', (x) => Array.isArray(x) && x.every(isNodeId), 'a list of client ids'],
    ['clock', isCount, 'a Lamport clock'],
    ['height', isCount, 'a chain height'],
  ],
  peerUp: [
    ['peer', isNodeId, 'a client id'],
    ['out', isName, 'a channel name'],
    ['in', isName, 'a channel name'],
  ],
  peerDown: [['peer', isNodeId, 'a client id']],
  send: messageChecks('to'),
  receive: [...messageChecks('from'), ['clockBefore', isCount, 'a Lamport clock']],
  enter: [
    ['ts', isCount, 'a Lamport timestamp'],
    ['height', isCount, 'a chain height'],
    ['transfers', isCount, 'a count'],
  ],
  leave: [
    ['ts', isCount, 'a Lamport timestamp'],
    ['block', (x) => x === null || isCount(x), 'a block height or null'],
  ],
  commit: [
    ['height', isCount, 'a chain height'],
    ['hash', isText, 'a hash'],
    ['creator', isNodeId, 'a client id'],
    ['txs', isCount, 'a count'],
    ['from', (x) => x === null || isNodeId(x), 'a client id or null'],
  ],
  record: [
    ['snapshot', isSnapshotId, 'a snapshot id like 3.1'],
    ['clock', isCount, 'a Lamport clock'],
    ['height', isCount, 'a chain height'],
  ],
  channelStart: [
    ['snapshot', isSnapshotId, 'a snapshot id like 3.1'],
    ['from', isNodeId, 'a client id'],
  ],
  channelStop: [
    ['snapshot', isSnapshotId, 'a snapshot id like 3.1'],
    ['from', isNodeId, 'a client id'],
    ['messages', isCount, 'a count'],
  ],
};

const COMMON_CHECKS: readonly Check[] = [
  ['node', isNodeId, 'a client id'],
  ['run', isName, 'a run name'],
  ['i', isCount, 'a position from 0'],
  ['wall', (x) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 8.64e15, 'epoch milliseconds'],
];

const isKind = (x: unknown): x is TraceEventKind => typeof x === 'string' && Object.hasOwn(KIND_CHECKS, x);

export function parseTraceLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObject(value)) return { ok: false, reason: 'not a JSON object' };
  if (value.v !== TRACE_VERSION) return { ok: false, reason: `trace format version ${JSON.stringify(value.v)}, this viewer reads ${TRACE_VERSION}` };
  if (!isKind(value.kind)) return { ok: false, reason: `unknown kind ${JSON.stringify(value.kind)}` };
  for (const [field, test, expected] of [...COMMON_CHECKS, ...KIND_CHECKS[value.kind]]) {
    if (!test(value[field])) return { ok: false, reason: `${value.kind}.${field}: expected ${expected}, got ${JSON.stringify(value[field]) ?? 'nothing'}` };
  }
  // Every field the kind needs was checked above; unknown extra fields are let through so that a
  // newer writer's additions do not make an older viewer drop whole events.
  return { ok: true, event: value as unknown as TraceEvent };
}
