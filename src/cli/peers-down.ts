/**
 * What a client with piped input says while a transfer waits for peers that do not connect. The
 * daemon says at once that the transfer waits; if the peers are still not there a moment later,
 * this says which are down, why as far as the network tells, how to start them, and until when
 * the transfer waits, so that a pipe is never silent until the transfer times out.
 */
import type { Daemon } from '../daemon/daemon.js';
import { clientName } from './render.js';

/** How long peers may take to connect (they may be starting too) before they are said to be down. */
export const PEERS_DOWN_AFTER_MS = 2_000;

export interface PeersDownOptions {
  /** The transfer timeout this client runs with (config or --transfer-timeout). */
  readonly timeoutMs: number;
  /** The config this client was given on its command line, which its peers need too; null for the default. */
  readonly config: string | null;
  readonly say: (line: string) => void;
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`;

/** Why peers do not connect, from the last problem each had: refused connections mean not running. */
function why(problems: readonly (string | undefined)[]): string {
  if (problems.length > 0 && problems.every((p) => p !== undefined && p.includes('ECONNREFUSED'))) return 'connection refused: not running?';
  const known = [...new Set(problems.filter((p): p is string => p !== undefined))];
  return known.length === 0 ? 'not connected yet' : known.join('; ');
}

/**
 * Watches `daemon`'s notices: PEERS_DOWN_AFTER_MS (or half the transfer timeout, if shorter) after
 * a transfer starts waiting for peers, if some are still not connected and a transfer still waits,
 * says so in two lines; once per outage (again after a peer connects).
 */
export function sayWhilePeersDown(daemon: Daemon, o: PeersDownOptions): void {
  let timer: NodeJS.Timeout | null = null;
  let said = false;
  const check = (): void => {
    timer = null;
    const waiting = daemon.status().node.pendingTransfers;
    const down = daemon.peers().peers.filter((p) => p.outgoing !== 'up' || p.incoming !== 'up');
    if (waiting === 0 || down.length === 0) return;
    said = true;
    const names = down.map((p) => clientName(p.id)).join(', ');
    const one = down.length === 1;
    const start = down.map((p) => `client ${p.id}`).join(', ');
    o.say(`${names} ${one ? 'is' : 'are'} down (${why(down.map((p) => p.lastError))}); start ${one ? 'it' : 'them'} (${start}${o.config === null ? '' : `, with --config ${o.config}`})`);
    const what = waiting === 1 ? 'the transfer waits' : `the ${waiting} transfers wait`;
    o.say(`${what} for ${one ? 'it' : 'them'} until ${seconds(o.timeoutMs)} after ${waiting === 1 ? 'it' : 'each'} was asked (--transfer-timeout), then fails with nothing moved`);
  };
  daemon.on('notice', (notice) => {
    if (notice.type === 'peerUp') said = false;
    if (notice.type !== 'waitingForPeers' || said || timer !== null) return;
    // Said before a short transfer timeout fails the transfer, not in a race with it.
    timer = setTimeout(check, Math.min(PEERS_DOWN_AFTER_MS, o.timeoutMs / 2));
    // Nothing to say once the input is done and the client stops.
    timer.unref();
  });
}
