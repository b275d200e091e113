/**
 * The trace file (src/daemon/trace-format.ts): simulated runs, encoded as a client encodes its
 * steps (a chunk each few events, each chunk opened by its header), read back into exactly the
 * events the tracer made; a file cut short anywhere reads as a prefix of them, and a file that
 * begins at any chunk (an older part rotated away) reads as the rest.
 */
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/core/trace-events.js';
import type { TraceSink, Tracer } from '../../src/core/tracer.js';
import type { NodeId } from '../../src/core/types.js';
import { decodeTrace } from '../../src/daemon/trace-decode.js';
import { TRACE_MAGIC, TraceEncoder } from '../../src/daemon/trace-format.js';
import { Rng } from './rng.js';
import { runSeed } from './simulator.js';

interface Encoded {
  /** Every event each client's tracer made, in order. */
  readonly events: Map<NodeId, TraceEvent[]>;
  /** Each client's file as chunks, in order (every run of the client in one file). */
  readonly chunks: Map<NodeId, Buffer[]>;
}

function encoded(seed: number, faults: boolean): Encoded {
  const rng = new Rng(seed * 7919);
  const events = new Map<NodeId, TraceEvent[]>();
  const chunks = new Map<NodeId, Buffer[]>();
  const encoders = new Map<NodeId, TraceEncoder>();
  const end = (node: NodeId): void => {
    const enc = encoders.get(node);
    if (enc !== undefined && enc.size > 0) chunks.set(node, [...(chunks.get(node) ?? []), enc.take()]);
  };
  /** An encoder for `t`'s run (as each process run has its own), a chunk begun before each chunk's first event and ended at random. */
  const fileSink = (t: Tracer): TraceSink => {
    end(t.node);
    const enc = new TraceEncoder();
    encoders.set(t.node, enc);
    return new Proxy(enc, {
      get(target, prop: string) {
        const method = (target as unknown as Record<string, unknown>)[prop];
        if (typeof method !== 'function') return method;
        return (...args: unknown[]): void => {
          if (target.size === 0) target.begin({ node: t.node, run: t.run, next: args[0] as number, sessions: t.sessions() });
          (method as (...a: unknown[]) => void).apply(target, args);
          if (rng.float() < 0.2) {
            const list = chunks.get(t.node) ?? [];
            list.push(target.take());
            chunks.set(t.node, list);
          }
        };
      },
    }) as unknown as TraceSink;
  };
  runSeed(seed, {
    faults,
    onTrace: (e) => {
      const list = events.get(e.node) ?? [];
      list.push(e);
      events.set(e.node, list);
    },
    traceAlso: fileSink,
  });
  for (const node of encoders.keys()) end(node);
  return { events, chunks };
}

const file = (chunks: readonly Buffer[]): Buffer => Buffer.concat([TRACE_MAGIC, ...chunks]);

describe('the trace file', () => {
  for (const faults of [false, true]) {
    it(`${faults ? 'with faults (restarts, sessions lost): ' : ''}reads back every event the tracer made, in order, descriptions included`, () => {
      for (let seed = 1; seed <= 8; seed++) {
        const { events, chunks } = encoded(seed, faults);
        for (const [node, made] of events) {
          const read = decodeTrace(file(chunks.get(node)!));
          expect(read.problem, `seed ${seed} client${node}`).toBeNull();
          expect(read.events, `seed ${seed} client${node}`).toEqual(made);
        }
      }
    });
  }

  it('a file cut short anywhere reads as a prefix of the events, and says so', () => {
    const { events, chunks } = encoded(3, true);
    const rng = new Rng(42);
    for (const [node, made] of events) {
      const whole = file(chunks.get(node)!);
      for (let k = 0; k < 40; k++) {
        const cut = TRACE_MAGIC.length + Math.floor(rng.float() * (whole.length - TRACE_MAGIC.length));
        const read = decodeTrace(whole.subarray(0, cut));
        expect(read.events).toEqual(made.slice(0, read.events.length));
        if (read.problem !== null) expect(read.problem.reason).toBe('a record cut short at the end');
      }
    }
  });

  it('a file that begins at any chunk (what came before rotated away) reads as the events after it', () => {
    const { events, chunks } = encoded(5, true);
    for (const [node, made] of events) {
      const list = chunks.get(node)!;
      for (let from = 0; from < list.length; from += Math.max(1, Math.floor(list.length / 10))) {
        const read = decodeTrace(file(list.slice(from)));
        expect(read.problem).toBeNull();
        expect(read.events).toEqual(made.slice(made.length - read.events.length));
      }
    }
  });

  it('is not read as a trace without its magic, nor past a record it does not know, and reads on from the next chunk', () => {
    expect(decodeTrace(Buffer.from('{"v":1}\n')).problem?.reason).toMatch(/not a trace file/);
    const { chunks } = encoded(2, false);
    const list = chunks.get(1)!;
    const bytes = Buffer.from(file(list));
    // The first chunk's HEADER (after the file's magic and the chunk's own) made unknown.
    const at = 2 * TRACE_MAGIC.length;
    bytes[at] = 200;
    const read = decodeTrace(bytes);
    const rest = TRACE_MAGIC.length + list[0]!.length;
    expect(read.problem).toEqual({ offset: at, reason: `unknown record 200 (reading went on at the next chunk, byte ${rest})` });
    expect(read.events).toEqual(decodeTrace(file(list.slice(1))).events);
    expect(read.events.length).toBeGreaterThan(0);
  });

  it('a torn chunk, then a later run appending after it: the later run is read, the torn chunk up to where it tore', () => {
    const { events, chunks } = encoded(4, true);
    const [node, made] = [...events][0]!;
    const list = chunks.get(node)!;
    const half = Math.floor(list.length / 2);
    const first = file(list.slice(0, half));
    // A power loss tears the last write: a few bytes of it stay, zeros after them.
    const torn = Buffer.concat([first, list[half]!.subarray(0, Math.floor(list[half]!.length / 2)), Buffer.alloc(4096)]);
    const later = Buffer.concat(list.slice(half + 1));
    const read = decodeTrace(Buffer.concat([torn, later]));
    expect(read.problem?.reason).toMatch(/\(reading went on at the next chunk, byte \d+\)$/);
    const before = decodeTrace(first).events.length;
    expect(read.events.slice(0, before)).toEqual(made.slice(0, before));
    expect(read.events.slice(-decodeTrace(file(list.slice(half + 1))).events.length)).toEqual(decodeTrace(file(list.slice(half + 1))).events);
  });
});
