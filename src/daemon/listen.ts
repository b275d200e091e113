/**
 * Where a client listens for its peers: whether an address is reachable from other machines
 * (protected mode refuses those without a cluster secret), and why listening failed, in words.
 */
import { isLoopback } from '../net/transport.js';
import { NetErrorKind, isNetError } from '../net/errors.js';
import type { NodeId } from '../core/types.js';
import { DaemonError, DaemonErrorKind } from './errors.js';

/** Whether listening on `host` lets other machines connect (anything but loopback). */
export const reachableFromOtherMachines = (host: string): boolean => !isLoopback(host);

/** What failing to open the peer listener means for the user; anything else is passed on. */
export function listenFailure(e: unknown, id: NodeId, address: string): unknown {
  if (!isNetError(e, NetErrorKind.ListenFailed)) return e;
  const inUse = (e.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
  return inUse
    ? new DaemonError(DaemonErrorKind.PortInUse, `port in use: ${address} (is client${id} already running?)`, { cause: e })
    : new DaemonError(DaemonErrorKind.Listen, e.message, { cause: e });
}
