/**
 * What the docker tests share: whether an engine answers (and what to do when none does), running
 * docker commands with bounds, and waiting for a condition. Outside CI a missing engine skips the
 * tests with the reason on one line; under CI (CI=true, where .ci/run starts an engine) it fails
 * them. SKIP_DOCKER=1 skips them outside CI.
 */
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Docker (or compose) is not there: the one-line reason, shown as a skip note or as the failure. */
export class DockerUnavailableError extends Error {
  override name = 'DockerUnavailableError';
}

/** CI=true and the like; `CI=false` or `CI=0` is not CI. */
export function underCI(): boolean {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

/** Why docker cannot be used, in one line, or null when it can. */
export function dockerProblem(): string | null {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 15_000 });
  if (r.error) return `no docker command (${r.error.message})`;
  if (r.status !== 0) return `no Docker engine answers docker info (${(r.stderr || r.stdout).trim().split('\n')[0]})`;
  return null;
}

/**
 * Why the tests named `what` are skipped (null: they run). Outside CI an unusable docker (`problem`)
 * or SKIP_DOCKER=1 skips them, said once on stderr; in CI nothing skips them.
 */
export function skipReasonFor(what: string, problem: string | null): string | null {
  const reason = underCI()
    ? null
    : process.env.SKIP_DOCKER === '1'
      ? 'SKIP_DOCKER=1'
      : problem === null
        ? null
        : `${problem}; run .ci/docker-setup.sh as root to provide one (under CI=true this fails)`;
  if (reason !== null) console.warn(`${what} skipped: ${reason}`);
  if (underCI() && process.env.SKIP_DOCKER === '1') console.warn(`${what}: SKIP_DOCKER=1 is ignored under CI`);
  return reason;
}

export interface Run { code: number; stdout: string; stderr: string }

/** Runs a command in the repository; never rejects: a failure is in `code` (-1: did not run or timed out). */
export function exec(cmd: string, args: string[], timeoutMs: number, opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: ROOT, env: opts.env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === -1 ? `\n${err.message}` : '') });
    });
    if (opts.input !== undefined) {
      // A command that exits without reading its input closes the pipe first: not an error here.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}

/** `docker <args>`; rejects with the command and its output when it exits non-zero. */
export async function docker(args: string[], timeoutMs = 30_000, opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  const r = await exec('docker', args, timeoutMs, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Retries `probe` until it returns without throwing, or fails with its last error after `ms`. */
export async function eventually<T>(what: string, ms: number, probe: () => Promise<T>, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try { return await probe(); } catch (e) { last = e; }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not within ${ms / 1000} s; last error: ${last instanceof Error ? last.message : String(last)}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
