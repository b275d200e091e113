/**
 * Environment variables: the cluster secret (or the file that holds it), the client's number,
 * and two that stand in for `--config` and `--data-dir` of `client <n>` and `client ctl <n>` when
 * the flag is not given. A container image sets them once, so that `client ctl 1 balance all`
 * works there with no flags; a flag on the command line still wins.
 */

/** Cluster config file: the default of `--config`. */
export const CONFIG_ENV = 'LAMPORT_LEDGER_CONFIG';
/** The one client's data dir (not a root of several): the default of `--data-dir`. */
export const DATA_DIR_ENV = 'LAMPORT_LEDGER_DATA_DIR';

/** The options these variables can fill in. */
export interface PathOptions {
  config?: string;
  dataDir?: string;
}

/** A variable's value, or undefined when it is unset or empty (`VAR= client 1` means "not set"). */
export function fromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** `o` with `config` and `dataDir` taken from the environment where the command line left them out. */
export function withEnvDefaults<T extends PathOptions>(o: T, env: NodeJS.ProcessEnv = process.env): T {
  return {
    ...o,
    config: o.config ?? fromEnv(env, CONFIG_ENV),
    dataDir: o.dataDir ?? fromEnv(env, DATA_DIR_ENV),
  };
}

/** The cluster secret; wins over the config's `secret`, so that it need not sit in a file. */
export const SECRET_ENV = 'LAMPORT_LEDGER_SECRET';

/** A file holding the cluster secret (a mounted Docker or Kubernetes secret): the default of `--secret-file`. */
export const SECRET_FILE_ENV = 'LAMPORT_LEDGER_SECRET_FILE';

/** Which client to run when `client` is given no number: one orchestrator setting per client. */
export const ID_ENV = 'LAMPORT_LEDGER_ID';
