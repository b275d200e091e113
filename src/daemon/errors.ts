/**
 * Errors a client process raises that a person reads: a bad config, an unusable data dir, a port
 * taken, a request for something that cannot exist, an answer cut short by shutting down.
 */
import { KindedError } from '../base/errors.js';

export const DaemonErrorKind = {
  /** The cluster config file is missing, unreadable or invalid. */
  Config: 'CONFIG',
  /** The data directory (chain file, snapshots, control socket) could not be read or written. */
  Storage: 'STORAGE',
  /** A request names something that cannot exist (a snapshot id that is no file name). */
  BadArgument: 'BAD_ARGUMENT',
  /** Another process listens on this client's port. */
  PortInUse: 'PORT_IN_USE',
  /** The peer port could not be listened on for another reason. */
  Listen: 'LISTEN',
  /** The client shut down before it could answer. */
  ShutDown: 'SHUT_DOWN',
} as const;
export type DaemonErrorKind = (typeof DaemonErrorKind)[keyof typeof DaemonErrorKind];

export class DaemonError extends KindedError<DaemonErrorKind> {}

/** `config/default.json: clients[1].port: must be an integer 1-65535, got "abc"` */
export class ConfigError extends DaemonError {
  /** The config file as the user named it. */
  readonly file: string;
  /** Path of the offending field (`clients[1].port`), or null for whole-file problems. */
  readonly field: string | null;
  /** The message without the file and field prefix. */
  readonly detail: string;

  constructor(file: string, field: string | null, detail: string, options?: { cause?: unknown }) {
    super(DaemonErrorKind.Config, field === null ? `${file}: ${detail}` : `${file}: ${field}: ${detail}`, options);
    this.file = file;
    this.field = field;
    this.detail = detail;
  }
}

/** `data/client1/chain.log: cannot write: ENOSPC: no space left on device` */
export class StorageError extends DaemonError {
  /** The file or directory involved. */
  readonly path: string;

  constructor(path: string, detail: string, options?: { cause?: unknown }) {
    super(DaemonErrorKind.Storage, `${path}: ${detail}`, options);
    this.path = path;
  }
}

export function isDaemonError(e: unknown, kind?: DaemonErrorKind): e is DaemonError {
  return e instanceof DaemonError && (kind === undefined || e.kind === kind);
}
