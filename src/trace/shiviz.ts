/**
 * A log ShiViz loads as it is. ShiViz reads a file whose first line is the regular expression
 * that parses the log (named groups `event`, `host`, `clock`), whose second line is the delimiter
 * between executions (empty: one execution), and whose rest is the log. We use ShiViz's own default
 * expression, so the same text also parses when pasted into its input box:
 *
 *     <event text>
 *     <host> {"<host>":<n>, "<other host>":<m>, ...}
 *
 * ShiViz requires each host's own entry to count that host's events from 1 in steps of 1, and
 * every other entry to name an event of that host in the log. So the clocks are recomputed over
 * the exported events alone: with a window, a message whose send is outside it carries nothing.
 */
import type { MergedTrace, TimelineEvent } from './merge.js';
import { clientName, describeTraceEvent } from './text.js';
import { computeVectorClocks } from './vclock.js';
import type { TraceWindow } from './window.js';

/** ShiViz's default parser expression (the GoVector log format). */
export const SHIVIZ_REGEX = String.raw`(?<event>.*)\n(?<host>\S*) (?<clock>{.*})`;

/**
 * One line, and never one that reads as a host line (`word {...`): a line like that right after
 * an event line would be taken for that event's clock line.
 */
function eventLine(e: TimelineEvent): string {
  const where = e.event.kind === 'send' || e.event.kind === 'receive' ? `; channel ${e.event.chan} #${e.event.seq}` : '';
  const text = `${describeTraceEvent(e.event)} (Lamport ${e.clock}; run ${e.event.run} event ${e.event.i}${where})`.replace(/[\r\n]+/g, ' ');
  return text.replace(/^(\S*) \{/, '$1 (');
}

export function renderShiviz(merged: MergedTrace, window: TraceWindow): string {
  const events = window.events;
  const sendOf = (e: TimelineEvent): TimelineEvent | null => {
    const link = merged.messageOf.get(e.id);
    return link !== undefined && link.receive === e && window.has(link.send) ? link.send : null;
  };
  const clocks = computeVectorClocks(events, merged.nodes.length, sendOf);
  const lines = [SHIVIZ_REGEX, ''];
  for (const e of events) {
    const vc = clocks.get(e) ?? [];
    const entries: Record<string, number> = {};
    merged.nodes.forEach((n, k) => {
      // ShiViz drops zero entries itself; leaving them out keeps the lines short.
      if ((vc[k] ?? 0) > 0) entries[clientName(n)] = vc[k] ?? 0;
    });
    lines.push(eventLine(e), `${clientName(e.node)} ${JSON.stringify(entries)}`);
  }
  return `${lines.join('\n')}\n`;
}
