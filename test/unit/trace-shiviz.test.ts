/**
 * The ShiViz export, checked the way ShiViz reads it: a file's first line is the parser
 * expression, its second the execution delimiter (empty here), the rest the log; the expression
 * must have the named groups event, host and clock; each clock is JSON; each host's own entry
 * starts at 1 and grows by 1; every other entry names an existing event of that host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrace } from '../../src/trace/load.js';
import { renderShiviz } from '../../src/trace/shiviz.js';
import { buildView, type TraceView } from '../../src/trace/view.js';
import { type TraceFixture, writeTraceFixture } from './trace-fixtures.js';

/** ShiViz's documented default parser expression (GoVector's two-line log format). */
const SHIVIZ_DEFAULT_PARSER = '(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})';

interface ParsedEvent {
  readonly event: string;
  readonly host: string;
  readonly clock: Record<string, number>;
}

let fx: TraceFixture;
let full: TraceView;

beforeAll(async () => {
  fx = writeTraceFixture();
  full = buildView(await loadTrace(fx.dirs), {});
});
afterAll(() => fx.cleanup());

/** What ShiViz does with an uploaded file: line 1 the parser, line 2 the delimiter, the rest the log. */
function parseUpload(text: string): { parser: string; delimiter: string; events: ParsedEvent[] } {
  const [parser = '', delimiter = ''] = text.split('\n', 2);
  const log = text.slice(text.indexOf('\n', text.indexOf('\n') + 1) + 1);
  return { parser, delimiter, events: parseLog(log, parser) };
}

function parseLog(log: string, parser: string): ParsedEvent[] {
  const re = new RegExp(parser, 'gm');
  return [...log.matchAll(re)].map((m) => ({ event: m.groups!.event!, host: m.groups!.host!, clock: JSON.parse(m.groups!.clock!) as Record<string, number> }));
}

/** The checks ShiViz makes when it builds its graph, plus well-formedness of every clock. */
function checkShivizRules(events: readonly ParsedEvent[]): void {
  const perHost = new Map<string, number>();
  for (const e of events) perHost.set(e.host, (perHost.get(e.host) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const e of events) {
    expect(Object.getPrototypeOf(e.clock)).toBe(Object.prototype);
    for (const [host, n] of Object.entries(e.clock)) {
      expect(Number.isInteger(n) && n >= 1, `${host}:${n}`).toBe(true);
      expect(perHost.has(host), `unknown host ${host}`).toBe(true);
      expect(n).toBeLessThanOrEqual(perHost.get(host)!);
    }
    const own = (seen.get(e.host) ?? 0) + 1;
    seen.set(e.host, own);
    expect(e.clock[e.host], `${e.host}'s own entry`).toBe(own);
  }
}

const below = (a: Record<string, number>, b: Record<string, number>): boolean => {
  const hosts = new Set([...Object.keys(a), ...Object.keys(b)]);
  let smaller = false;
  for (const h of hosts) {
    if ((a[h] ?? 0) > (b[h] ?? 0)) return false;
    if ((a[h] ?? 0) < (b[h] ?? 0)) smaller = true;
  }
  return smaller;
};

describe('the ShiViz log', () => {
  const text = (): string => renderShiviz(full.merged, full.window);

  it('starts with the parser expression ShiViz expects and an empty delimiter line', () => {
    const { parser, delimiter } = parseUpload(text());
    expect(parser).toBe(SHIVIZ_DEFAULT_PARSER);
    expect(delimiter).toBe('');
  });

  it('parses with that expression into one entry per event, with well-formed clocks', () => {
    const { events } = parseUpload(text());
    expect(events).toHaveLength(fx.events.length);
    expect(new Set(events.map((e) => e.host))).toEqual(new Set(['client1', 'client2', 'client3']));
    checkShivizRules(events);
    // The same entries come out when the whole file is pasted into ShiViz's log box.
    expect(parseLog(text(), `^${SHIVIZ_DEFAULT_PARSER}$`)).toEqual(events);
  });

  it('keeps send before receive on the parsed clocks', () => {
    const { events } = parseUpload(text());
    const channelOf = (e: ParsedEvent): string | null => /; channel (\S+ #\d+)\)$/.exec(e.event)?.[1] ?? null;
    const sends = new Map(events.filter((e) => e.event.startsWith('sent ')).map((e) => [channelOf(e)!, e]));
    const receives = events.filter((e) => e.event.startsWith('received '));
    expect(receives).toHaveLength(fx.events.filter((e) => e.kind === 'receive').length);
    for (const r of receives) {
      const s = sends.get(channelOf(r)!);
      expect(s, r.event).toBeDefined();
      expect(below(s!.clock, r.clock), `${s!.event} -> ${r.event}`).toBe(true);
      expect(r.clock[s!.host]).toBeGreaterThanOrEqual(s!.clock[s!.host]!);
    }
  });

  it("matches the viewer's own vector clocks entry for entry", () => {
    const { events } = parseUpload(text());
    full.merged.ordered.forEach((e, k) => {
      const expected = Object.fromEntries(full.merged.nodes.map((n, lane) => [`client${n}`, e.vc[lane]!]).filter(([, v]) => (v as number) > 0));
      expect(events[k]!.clock).toEqual(expected);
      expect(events[k]!.host).toBe(`client${e.node}`);
    });
  });

  it('restarts each window at 1, so a windowed export loads too', async () => {
    const v = buildView(await loadTrace(fx.dirs), { around: '1.1', margin: 4 });
    const { events } = parseUpload(renderShiviz(v.merged, v.window));
    expect(events).toHaveLength(v.window.events.length);
    checkShivizRules(events);
  });

  it('writes every event on one line that cannot pass for a clock line', () => {
    const { events } = parseUpload(text());
    for (const e of events) {
      expect(e.event).not.toMatch(/\n/);
      expect(e.event).not.toMatch(/^\S* \{/);
    }
  });
});
