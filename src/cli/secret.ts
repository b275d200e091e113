/**
 * The cluster secret and where it comes from: `--secret-file`, else `LAMPORT_LEDGER_SECRET_FILE`,
 * else `LAMPORT_LEDGER_SECRET`, else the config's `secret`. A file is what orchestrators deliver
 * (a Docker secret at /run/secrets/<name>, a Kubernetes Secret mounted as a volume): unlike an
 * environment variable, it does not show in `docker inspect`, in `/proc/<pid>/environ` or in the
 * environment of every process the client starts.
 */
import { readFileSync } from 'node:fs';
import { type ClusterConfig, MAX_SECRET_LENGTH, MIN_SECRET_LENGTH } from '../daemon/config.js';
import { SECRET_ENV, SECRET_FILE_ENV, fromEnv } from './env.js';
import { fail } from './fail.js';

/** A secret that cannot be used; the message is the one line the user sees. */
export class SecretError extends Error {
  override name = 'SecretError';
}

/** Why `secret` (from `source`) cannot be a cluster secret, or null when it can. */
function secretProblem(secret: string, source: string): string | null {
  if (secret === '') return `${source} is empty`;
  if (/[\r\n]/.test(secret)) return `${source} holds more than one line; the secret is the first line alone`;
  if (/[\u0000-\u001f\u007f]/.test(secret)) return `${source} holds a control character`;
  if (secret.length < MIN_SECRET_LENGTH) return `${source} has ${secret.length} characters; a cluster secret needs at least ${MIN_SECRET_LENGTH} (the same on every client)`;
  if (secret.length > MAX_SECRET_LENGTH) return `${source} has ${secret.length} characters; a cluster secret has at most ${MAX_SECRET_LENGTH}`;
  return null;
}

/**
 * The secret in `file`: its text without the line break(s) at the end (`echo ... > file` and
 * editors add one). `flag` names where the path came from, for the error.
 */
export function readSecretFile(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (code ?? String(e));
    throw new SecretError(`cannot read the cluster secret from ${file} (${flag}): ${why}`);
  }
  const secret = text.replace(/(\r?\n)+$/, '');
  const problem = secretProblem(secret, `the cluster secret file ${file} (${flag})`);
  if (problem !== null) throw new SecretError(problem);
  return secret;
}

/** The cluster secret this client runs with (null: none), from the first place that has one. */
export function clusterSecret(config: ClusterConfig, secretFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (secretFile !== undefined) return readSecretFile(secretFile, '--secret-file');
  const file = fromEnv(env, SECRET_FILE_ENV);
  const value = fromEnv(env, SECRET_ENV);
  if (file !== undefined && value !== undefined) {
    throw new SecretError(`both ${SECRET_ENV} and ${SECRET_FILE_ENV} are set; set one of them`);
  }
  if (file !== undefined) return readSecretFile(file, SECRET_FILE_ENV);
  if (value === undefined) return config.secret;
  const problem = secretProblem(value, SECRET_ENV);
  if (problem !== null) throw new SecretError(problem);
  return value;
}

/** The cluster secret (see `clusterSecret`), or the process ends saying what is wrong with it. */
export function secretOrExit(config: ClusterConfig, secretFile: string | undefined): string | null {
  try {
    return clusterSecret(config, secretFile);
  } catch (e) {
    if (e instanceof SecretError) fail(e.message);
    throw e;
  }
}
