// @ts-check
/**
 * A saved run, replayed: the server reads the clients' traces (`client trace`'s merge) and sends
 * their events in causal order; the page shows them up to the slider's position.
 */
import { Store } from './store.js';

/**
 * The saved run from the server, or why there is none.
 * @param {string} url @param {Record<string, string>} headers
 * @returns {Promise<{ ok: true, data: any } | { ok: false, text: string }>}
 */
export async function fetchReplay(url, headers) {
  const r = await fetch(url, { headers }).catch(() => null);
  if (r === null) return { ok: false, text: 'no answer from the server' };
  const data = await r.json();
  return r.ok ? { ok: true, data } : { ok: false, text: data.text };
}

/** The run up to its `k`th event, with the verdicts of the snapshots every client recorded by then. @param {any} data @param {number} k */
export function storeAt(data, k) {
  const store = new Store(data.nodes);
  for (const item of data.events.slice(0, k)) store.add(item);
  for (const v of data.snapshots) if (store.snapshots.get(v.id)?.records.size === data.nodes.length) store.snap(v.id).verdict = v;
  return store;
}

/** Where the slider is, in words. @param {any} data @param {number} k */
export function position(data, k) {
  const at = data.events[k - 1];
  return `${k} of ${data.events.length} events${at ? `, at ${new Date(at.e.wall).toISOString()}` : ''}`;
}
