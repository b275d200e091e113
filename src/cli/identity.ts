/**
 * Which client a process is. On a terminal it is the number typed; under an orchestrator it comes
 * from where the process runs: a Kubernetes StatefulSet names its pods `<name>-0`, `<name>-1`, ...
 * (`--id-from-hostname`: the ordinal plus one, so `ledger-0` is client 1), and anything else can
 * set `LAMPORT_LEDGER_ID` per client (a Docker Swarm service per client does).
 */
import { type ClusterConfig, nodeIds } from '../daemon/config.js';
import { ID_ENV, fromEnv } from './env.js';
import { quote } from './parse.js';

/** A client number that cannot be worked out; the message is the one line the user sees. */
export class IdentityError extends Error {
  override name = 'IdentityError';
}

/** `2` or `client2` as a number; NaN for anything else. */
export function parseClientNumber(text: string): number {
  const t = text.trim();
  return /^(client)?\d{1,9}$/.test(t) ? Number(t.replace(/^client/, '')) : Number.NaN;
}

/**
 * The client a host name stands for: its first label's ordinal suffix plus one (`ledger-0` and
 * `ledger-0.ledger.default.svc.cluster.local` are client 1), as a StatefulSet numbers its pods
 * from 0 and clients are numbered from 1.
 */
export function idFromHostname(hostname: string): number {
  const label = hostname.split('.')[0] ?? '';
  const m = /^.+-(0|[1-9]\d{0,8})$/.exec(label);
  if (m === null) {
    throw new IdentityError(
      `--id-from-hostname: this host is named ${quote(hostname)}, which does not end in an ordinal; ` +
        'a StatefulSet names its pods <name>-0, <name>-1, ... and <name>-0 is client 1',
    );
  }
  return Number(m[1]) + 1;
}

export interface IdSources {
  /** The number on the command line (`client 2`). */
  readonly given?: string | undefined;
  /** `--id-from-hostname`. */
  readonly fromHostname?: boolean | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** This machine's host name (os.hostname()); asked only with `--id-from-hostname`. */
  readonly hostname?: () => string;
}

/**
 * The client number from the command line, else from the host name (`--id-from-hostname`), else
 * from `LAMPORT_LEDGER_ID`, checked against the config; null when none of them says (then a
 * terminal asks). Throws IdentityError naming where a wrong number came from.
 */
export function clientIdFrom(s: IdSources, config: ClusterConfig, configPath: string): number | null {
  const ids = nodeIds(config);
  const known = (n: number): boolean => ids.includes(n);
  const defined = `${configPath} defines clients ${ids.join(', ')}`;
  if (s.fromHostname === true) {
    if (s.given !== undefined) throw new IdentityError(`give a client number or --id-from-hostname, not both (got ${quote(s.given)} and --id-from-hostname)`);
    const hostname = (s.hostname ?? (() => ''))();
    const id = idFromHostname(hostname);
    if (!known(id)) throw new IdentityError(`--id-from-hostname: this host is ${quote(hostname)}, which makes it client ${id} (ordinal ${id - 1}, plus one), but ${defined}`);
    return id;
  }
  if (s.given !== undefined) {
    const id = parseClientNumber(s.given);
    if (!known(id)) throw new IdentityError(`unknown client ${quote(s.given)}: ${defined}`);
    return id;
  }
  const fromEnvironment = fromEnv(s.env ?? process.env, ID_ENV);
  if (fromEnvironment === undefined) return null;
  const id = parseClientNumber(fromEnvironment);
  if (Number.isNaN(id)) throw new IdentityError(`${ID_ENV} must be a client number such as 2 (or client2), got ${quote(fromEnvironment)}`);
  if (!known(id)) throw new IdentityError(`${ID_ENV}=${fromEnvironment}: unknown client ${id}: ${defined}`);
  return id;
}
