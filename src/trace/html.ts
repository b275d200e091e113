/**
 * One self-contained page: the diagram, hover details, a legend, how to read it and, for a
 * snapshot, the recorded channel states beside the messages crossing the cut. Nothing is fetched:
 * styles and script are inline, and the page's Content-Security-Policy forbids any request.
 */
import { describeCut, type SnapshotCut } from './cut.js';
import { describeMalformed } from './load.js';
import type { SavedSnapshotLookup } from './saved-snapshot.js';
import { countTrace, summaryLine } from './summary.js';
import { DIAGRAM_CSS, eventRef, messageRef, renderSvg, xmlEscape } from './svg.js';
import { clientName, eventDetails, messageDetails } from './text.js';
import type { TraceView } from './view.js';

const esc = xmlEscape;

// Balances are integer cents; shown as the CLI shows them, in dollars.
const dollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });

/** JSON inside a <script> element: "<" escaped so no "</script>" can end it early. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

const PAGE_CSS = `
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: #222; background: #f6f6f4; }
header, main > section { padding: 12px 20px; }
header { background: #fff; border-bottom: 1px solid #ddd; }
h1 { font-size: 18px; margin: 0 0 4px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.summary { color: #444; margin: 0; }
.warnings { color: #8a4b00; margin: 6px 0 0; padding-left: 18px; }
.layout { display: flex; gap: 16px; align-items: flex-start; padding: 12px 20px; }
.diagram { flex: 1 1 auto; overflow: auto; background: #fff; border: 1px solid #ddd; max-height: 78vh; }
aside { flex: 0 0 330px; position: sticky; top: 12px; display: flex; flex-direction: column; gap: 12px; }
.panel { background: #fff; border: 1px solid #ddd; padding: 10px 12px; }
#details dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; }
#details dt { font-weight: 600; color: #555; }
#details dd { margin: 0; word-break: break-word; }
#details .hint { color: #777; margin: 0; }
.legend { list-style: none; margin: 0; padding: 0; }
.legend li { display: flex; align-items: center; gap: 8px; margin: 3px 0; }
.legend svg { flex: 0 0 46px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
td.ok { color: #1b6e1b; font-weight: 600; } td.bad { color: #b00020; font-weight: 600; }
.verdict.ok { color: #1b6e1b; } .verdict.bad { color: #b00020; }
code { font-size: 12px; }
`;

const PAGE_SCRIPT = `
(function () {
  'use strict';
  var details = JSON.parse(document.getElementById('trace-details').textContent);
  var panel = document.getElementById('details');
  var svg = document.querySelector('.diagram svg');
  var pinned = null;
  var lit = [];
  function refOf(node) {
    while (node && node !== svg && node.nodeType === 1) {
      if (node.hasAttribute('data-ref')) return node;
      node = node.parentNode;
    }
    return null;
  }
  function unlight() { lit.forEach(function (el) { el.classList.remove('hovered'); }); lit = []; }
  function light(el) {
    unlight();
    var related = [el];
    var ids = [el.getAttribute('data-send'), el.getAttribute('data-receive')];
    ids.forEach(function (id) { if (id) { var ev = svg.querySelector('[data-id="' + CSS.escape(id) + '"]'); if (ev) related.push(ev); } });
    var id = el.getAttribute('data-id');
    if (id) {
      svg.querySelectorAll('[data-send="' + CSS.escape(id) + '"], [data-receive="' + CSS.escape(id) + '"]').forEach(function (m) { related.push(m); });
    }
    related.forEach(function (r) { r.classList.add('hovered'); });
    lit = related;
  }
  function show(el) {
    var lines = details[el.getAttribute('data-ref')];
    if (!lines) return;
    var dl = document.createElement('dl');
    lines.forEach(function (kv) {
      var dt = document.createElement('dt'); dt.textContent = kv[0];
      var dd = document.createElement('dd'); dd.textContent = kv[1];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    panel.replaceChildren(dl);
    light(el);
  }
  svg.addEventListener('mouseover', function (e) { var el = refOf(e.target); if (el && !pinned) show(el); });
  svg.addEventListener('focusin', function (e) { var el = refOf(e.target); if (el) show(el); });
  svg.addEventListener('click', function (e) {
    var el = refOf(e.target);
    pinned = el && el !== pinned ? el : null;
    if (pinned) show(pinned);
  });
  document.documentElement.setAttribute('data-ready', 'true');
})();
`;

function legendSwatch(inner: string): string {
  return `<svg class="trace-diagram" width="46" height="20" viewBox="0 0 46 20" aria-hidden="true">${inner}</svg>`;
}

const arrowSwatch = (cls: string, colour: string): string =>
  legendSwatch(`<g class="msg ${cls}">${cls.includes('in-cut') ? '<line class="halo" x1="4" y1="10" x2="40" y2="10"/>' : ''}<line class="shaft" x1="4" y1="10" x2="40" y2="10" stroke="${colour}"/></g>`);

function legend(): string {
  const items: [string, string][] = [
    [arrowSwatch('t-REQUEST delivered', '#1f77b4'), 'REQUEST (blue), REPLY (green), RELEASE (orange), MARKER (purple), REPORT (brown)'],
    [arrowSwatch('t-REQUEST in-flight', '#1f77b4'), 'in flight: sent, not received when the trace ends'],
    [arrowSwatch('t-REQUEST lost', '#1f77b4'), 'lost: never received, its connection went down'],
    [arrowSwatch('t-REQUEST clipped', '#1f77b4'), 'one end outside the shown window: cut at the edge'],
    [arrowSwatch('t-RELEASE in-cut', '#e6700a'), "crossing the snapshot's cut: a recorded channel state"],
    [legendSwatch('<g class="event k-send"><circle cx="12" cy="10" r="4.5"/></g><g class="event k-receive"><circle cx="32" cy="10" r="4.5"/></g>'), 'send (filled) and receive (open)'],
    [legendSwatch('<g class="event k-record"><path d="M23,2 L30,10 L23,18 L16,10 Z"/></g>'), "record: where a client recorded its state for the snapshot"],
    [legendSwatch('<g class="event k-commit"><rect x="19.5" y="6.5" width="7" height="7"/></g>'), 'other events: start, connections, commits, channel recording'],
    [legendSwatch('<g class="cs"><rect x="3" y="3" width="40" height="14" rx="3"/></g>'), 'critical section, labelled with the block it committed'],
    [legendSwatch('<g class="cut"><polyline points="23,0 23,20"/></g>'), "the snapshot's cut, through each client's record point"],
    [legendSwatch('<g class="restart"><line x1="23" y1="2" x2="23" y2="18"/></g>'), 'restart: a new run of the same client'],
  ];
  return `<ul class="legend">${items.map(([swatch, text]) => `<li>${swatch}<span>${esc(text)}</span></li>`).join('')}</ul>`;
}

const HOW_TO_READ = `
<p>Each horizontal line is one client; time runs left to right along it. A dot is something that
client did: sending a message (filled), receiving one (open), or another step (square). Each arrow is
one message, from its send to its receive, labelled as the logs print it (<code>REQUEST ts=7</code>).</p>
<p>Left-to-right position shows causality only: if an event can have influenced another (same client
earlier, or through a chain of messages), it is drawn further left. Events on different clients at the
same position are concurrent. Wall-clock times (in the details) come from different machines and
order nothing.</p>
<p>Green bars are critical sections: a client held the ledger's lock (Lamport's mutual exclusion) and
committed the block named under the bar. For a snapshot, the crimson dash-dotted line is its cut through each
client's record point; the highlighted arrows cross it and are what the snapshot recorded as in flight.
Hover or focus anything for details (clocks before and after, vector clock, wall time); click to pin.</p>
`;

function snapshotSection(cut: SnapshotCut, saved: SavedSnapshotLookup | null): string {
  const rows = cut.channels
    .filter((c) => c.crossing.length > 0 || (c.saved?.length ?? 0) > 0 || c.agrees === false)
    .map((c) => {
      const list = (xs: readonly string[] | null): string => (xs === null ? '<em>no saved snapshot</em>' : xs.length === 0 ? '<em>empty</em>' : xs.map((x) => esc(x)).join('<br>'));
      const verdict = c.agrees === null ? '<td>-</td>' : c.agrees ? '<td class="ok">agrees</td>' : '<td class="bad">differs</td>';
      return `<tr data-from="${c.from}" data-to="${c.to}"><td>${clientName(c.from)} &rarr; ${clientName(c.to)}</td><td>${list(c.crossing)}</td><td>${list(c.saved)}</td><td>${c.stopCount ?? '-'}</td>${verdict}</tr>`;
    });
  const empty = cut.channels.length - rows.length;
  const table = rows.length === 0
    ? '<p>No message crosses the cut, and the saved snapshot records every channel empty.</p>'
    : `<table class="channels"><thead><tr><th>channel</th><th>crossing the cut (trace)</th><th>recorded (saved snapshot)</th><th>channelStop count</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>` +
      (empty > 0 ? `<p>${empty} other channel(s): empty in both.</p>` : '');
  let savedPart = '';
  if (saved !== null && saved.status === 'found') {
    const s = saved.snapshot;
    const states = s.nodes
      .map((n) => `<tr><td>${clientName(n.node)}</td><td>${n.clock}</td><td>#${n.height} ${esc(n.head.slice(0, 8))}</td><td>${esc(Object.entries(n.balances).map(([k, v]) => `${clientName(Number(k))} ${dollars.format(v / 100)}`).join(', '))}</td></tr>`)
      .join('');
    savedPart =
      `<p>Saved snapshot <code>${esc(saved.file)}</code>: <span class="verdict ${s.verified ? 'ok' : 'bad'}">${esc(s.verdict)}</span></p>` +
      `<table class="states"><thead><tr><th>client</th><th>clock</th><th>chain</th><th>balances</th></tr></thead><tbody>${states}</tbody></table>`;
  }
  const messages = saved !== null && saved.status === 'found' ? saved.snapshot.channels.reduce((k, c) => k + c.messages.length, 0) : null;
  return `<section class="snapshot" data-snapshot="${esc(cut.id)}" data-agreement="${cut.agreement.kind}"${messages === null ? '' : ` data-saved-messages="${messages}"`}>
<h2>Snapshot ${esc(cut.id)}</h2>
<p class="cut-summary">${esc(describeCut(cut))}</p>
${table}
${savedPart}
</section>`;
}

/** For tests and other pages: the details shown on hover, by the elements' data-ref. */
export function hoverDetails(view: TraceView): Record<string, [string, string][]> {
  const out: Record<string, [string, string][]> = {};
  for (const e of view.window.events) out[eventRef(e)] = eventDetails(e, view.merged.nodes);
  view.merged.messages.forEach((m, k) => {
    if (view.window.has(m.send) || view.window.has(m.receive)) out[messageRef(k)] = messageDetails(m, view.merged.nodes);
  });
  return out;
}

export function renderHtml(view: TraceView): string {
  const svg = renderSvg(view);
  const warnings = [describeMalformed(view.loaded), ...view.merged.warnings].filter((w): w is string => w !== null);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(view.title)}</title>
<style>${PAGE_CSS}${DIAGRAM_CSS}</style>
</head>
<body>
<header>
<h1>${esc(view.title)}</h1>
<p class="summary">${esc(summaryLine(countTrace(view.merged)))}; shown: ${esc(view.window.label)}</p>
${warnings.length === 0 ? '' : `<ul class="warnings">${warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`}
</header>
<div class="layout">
<div class="diagram">
${svg}
</div>
<aside>
<div class="panel" id="details" aria-live="polite"><p class="hint">Hover over (or focus) an event or an arrow to see its details here; click to pin them.</p></div>
<div class="panel"><h2>Legend</h2>${legend()}</div>
</aside>
</div>
<main>
${view.cut === null ? '' : snapshotSection(view.cut, view.saved)}
<section class="how-to-read"><h2>How to read this</h2>${HOW_TO_READ}</section>
</main>
<script type="application/json" id="trace-details">${scriptJson(hoverDetails(view))}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
