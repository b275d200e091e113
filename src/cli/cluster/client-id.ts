/** A client of the cluster as a line names it: `2` or `client2`. */
import type { NodeId } from '../../core/types.js';
import { quote } from '../parse.js';

const CLIENT_RE = /^(?:client)?([0-9]{1,9})$/i;

/** Whether a word names a client, known or not: the line is addressed to one. */
export const isClientWord = (word: string): boolean => CLIENT_RE.test(word);

/** `2` or `client2` as a client of the cluster, or an error naming the clients. */
export function parseClientId(text: string, ids: readonly NodeId[], role = 'client'): { ok: true; id: NodeId } | { ok: false; error: string } {
  const m = CLIENT_RE.exec(text);
  if (m === null) return { ok: false, error: `invalid ${role} ${quote(text)} — write a client number like 2 or client2` };
  const id = Number(m[1]);
  if (!ids.includes(id)) return { ok: false, error: `unknown ${role} ${quote(text)} — the clients are ${[...ids].sort((a, b) => a - b).join(', ')}` };
  return { ok: true, id };
}
