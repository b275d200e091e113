/**
 * End-to-end harness: a temporary cluster of real `bin/client.js` processes on ephemeral loopback
 * ports, each with its own temporary data dir, driven through `client ctl` exactly as a user would.
 *
 * Everything a Cluster starts is registered globally and killed by `closeAllClusters()` (call it
 * from afterEach/afterAll) and, as a last resort, synchronously on process exit.
 */
import { afterAll, afterEach } from 'vitest';
import xterm from '@xterm/headless';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLine, succeeded } from '../../src/cli/interpret.js';
import { answerJson } from '../../src/cli/json.js';
import { renderAnswer } from '../../src/cli/render.js';
import { ControlClient } from '../../src/daemon/control/client.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'client.js');
const HOST = '127.0.0.1';
// The package is CommonJS: its classes come on the default export.
const HeadlessTerminal = xterm.Terminal;

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is JSON, else undefined. */
  json: any;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ClusterOptions {
  /** Number of clients (ids 1..n). */
  n: number;
  /** Initial balance of every client, in cents (default 1000). */
  balanceCents?: number;
  snapshotTimeoutMs?: number;
  transferTimeoutMs?: number;
  /** Extra command-line flags per client id, e.g. { 1: ['--delay', '1500'] }. */
  args?: Record<number, string[]>;
  /** Extra flags for every client. */
  allArgs?: string[];
  /** Confirm all-peers-up with a real `client ctl <n> status --json` process per client (slower). */
  confirmWithCtl?: boolean;
  /**
   * Data dir names: `c<n>` (default, short for socket paths) or `client-<n>`, the layout
   * `client cluster --data-dir <dir>` uses, so that a cluster command can find these clients.
   */
  layout?: 'short' | 'cluster';
}

export interface ConfigClient {
  id: number;
  host: string;
  port: number;
  balanceCents: number;
}

export interface ConfigFile {
  cluster: string;
  clients: ConfigClient[];
  transferTimeoutMs?: number;
  snapshotTimeoutMs?: number;
}

// ---- global registry, so every process is killed even when a test fails --------------------------

const liveChildren = new Set<ChildProcess>();
const liveClusters = new Set<Cluster>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const d of tempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

export function track(child: ChildProcess): void {
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** Kills every process any Cluster started and removes every temp dir. For afterEach/afterAll. */
/**
 * Registers the vitest hooks that close every cluster a test started (after each test, and all
 * at the end). `start` starts one; `track` registers one a test built itself.
 */
export function clustersPerTest(): { start: (...args: Parameters<typeof Cluster.start>) => Promise<Cluster>; track: (c: Cluster) => Cluster } {
  const clusters: Cluster[] = [];
  afterEach(async () => {
    await Promise.all(clusters.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await closeAllClusters();
  });
  const track = (c: Cluster): Cluster => {
    clusters.push(c);
    return c;
  };
  return { start: async (...args) => track(await Cluster.start(...args)), track };
}

export async function closeAllClusters(): Promise<void> {
  await Promise.all([...liveClusters].map((c) => c.close()));
  await Promise.all([...liveChildren].map((c) => killAndWait(c, 'SIGKILL')));
  // Clients a killed `client cluster` started are not our children: they are found by their data dir.
  for (const d of [...tempDirs]) killProcessesMentioning(d);
  for (const d of [...tempDirs]) removeTempDir(d);
}

/** A fresh directory under os.tmpdir(), removed by closeAllClusters (or at exit). Short, for socket paths. */
export function makeTempDir(prefix = 'lle2e-'): string {
  installExitHook();
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ---- small utilities -------------------------------------------------------------------------------

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (exited(child)) return;
  const gone = waitExit(child);
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
  await gone;
}

/** What a client says when its port is taken (src/daemon/listen.ts). */
const PORT_IN_USE = /port in use: /;

/** Ports the OS just handed out (listen on 0, then close). Another process may grab one later. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, HOST, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** Whether `port` can be listened on right now (false: another process holds it). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

function tryJson(text: string): any {
  const t = text.trim();
  if (t === '') return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

/** Runs `node bin/client.js <args>` to completion (in the repository, unless `cwd` says otherwise). */
export function runClientCli(
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string; cwd?: string; env?: Readonly<Record<string, string>> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env ?? {}) } });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`client ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/**
 * One REPL line on a client through its control socket, the way `client ctl` runs it: parsed
 * here as that client's REPL would, sent as a typed request, the typed answer rendered here as
 * text and as the --json value. Cheap polling, without a Node process per request.
 */
export async function controlRequest(dataDir: string, line: string, timeoutMs = 5000): Promise<{ ok: boolean; text: string; json: any }> {
  let client: ControlClient | null = null;
  try {
    client = await ControlClient.connect(dataDir, { timeoutMs });
    const answer = await runLine(line, client, await client.identity());
    return { ok: succeeded(answer), text: renderAnswer(answer), json: answerJson(answer) };
  } catch (e) {
    throw new Error(`control socket of ${dataDir}, "${line}": client ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    client?.close();
  }
}

/** Polls `check` until it returns a truthy value (which is returned) or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    await sleep(everyMs);
  }
}

let clusterCounter = 0;

export interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class Cluster {
  readonly n: number;
  readonly dir: string;
  readonly configPath: string;
  readonly name: string;
  config: ConfigFile;
  private readonly procs = new Map<number, Proc>();
  private readonly options: ClusterOptions;
  private closed = false;

  constructor(options: ClusterOptions) {
    this.options = options;
    this.n = options.n;
    this.dir = makeTempDir();
    this.configPath = path.join(this.dir, 'config.json');
    this.name = `e2e-${process.pid}-${++clusterCounter}-${Math.random().toString(36).slice(2, 8)}`;
    for (const id of this.ids) mkdirSync(this.dataDir(id), { recursive: true });
    this.config = { cluster: this.name, clients: [] };
    liveClusters.add(this);
  }

  /** Creates a cluster on fresh ports and starts every client (ids in `order`), waiting for all peers up. */
  static async start(options: ClusterOptions, order?: readonly number[]): Promise<Cluster> {
    const c = new Cluster(options);
    await c.startAll(order);
    return c;
  }

  get ids(): number[] {
    return Array.from({ length: this.n }, (_, i) => i + 1);
  }

  dataDir(id: number): string {
    return path.join(this.dir, this.options.layout === 'cluster' ? `client-${id}` : `c${id}`);
  }

  logPath(id: number): string {
    return path.join(this.dataDir(id), 'client.log');
  }

  /** Parsed pino lines of a client's client.log. */
  logRecords(id: number): { level: number; msg: string; [k: string]: unknown }[] {
    if (!existsSync(this.logPath(id))) return [];
    return readFileSync(this.logPath(id), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      });
  }

  /** Writes the config with these ports (and the options' balances and timeouts). */
  writeConfig(ports: readonly number[], overrides: Partial<ConfigFile> = {}, file = this.configPath): ConfigFile {
    const cfg: ConfigFile = {
      cluster: this.name,
      clients: this.ids.map((id) => ({ id, host: HOST, port: ports[id - 1]!, balanceCents: this.options.balanceCents ?? 1000 })),
      ...(this.options.transferTimeoutMs !== undefined ? { transferTimeoutMs: this.options.transferTimeoutMs } : {}),
      ...(this.options.snapshotTimeoutMs !== undefined ? { snapshotTimeoutMs: this.options.snapshotTimeoutMs } : {}),
      ...overrides,
    };
    writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`);
    if (file === this.configPath) this.config = cfg;
    return cfg;
  }

  get total(): number {
    return this.config.clients.reduce((a, c) => a + c.balanceCents, 0);
  }

  /**
   * Picks free ports, writes the config, starts every client (all at once, or one after another in
   * `order`, each answering on its control socket before the next starts) and waits until every
   * client has every peer up. Retries on fresh ports if a port was taken meanwhile.
   */
  async startAll(order?: readonly number[], attempts = 3): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.writeConfig(await freePorts(this.n));
      try {
        if (order) {
          for (const id of order) await this.start(id, { waitPeers: false, retries: 0 });
        } else {
          await Promise.all(this.ids.map((id) => this.start(id, { waitPeers: false, retries: 0 })));
        }
        await this.waitAllUp();
        return;
      } catch (e) {
        await Promise.all(this.ids.map((id) => this.kill(id)));
        // a port handed out by freePorts was taken by someone else meanwhile: try fresh ones
        const free = await Promise.all(this.config.clients.map((cl) => portFree(cl.port)));
        if ((free.every(Boolean) && !PORT_IN_USE.test(String(e))) || attempt >= attempts) throw e;
      }
    }
  }

  /** Output a client process wrote so far (for failure messages). */
  output(id: number): string {
    const p = this.procs.get(id);
    return p ? `stdout:\n${p.stdout}\nstderr:\n${p.stderr}` : '(never started)';
  }

  running(id: number): boolean {
    const p = this.procs.get(id);
    return p !== undefined && !exited(p.child);
  }

  /** Spawns a client process (no waiting) with the harness flags plus `extra`. */
  spawnClient(id: number, opts: { repl?: boolean; extra?: string[]; config?: string; dataDir?: string } = {}): Proc {
    if (this.closed) throw new Error('cluster closed');
    if (this.running(id)) throw new Error(`client ${id} is already running`);
    const args = [
      BIN,
      String(id),
      ...(opts.repl ? [] : ['--no-repl']),
      '--config',
      opts.config ?? this.configPath,
      '--data-dir',
      opts.dataDir ?? this.dataDir(id),
      ...(this.options.allArgs ?? []),
      ...(this.options.args?.[id] ?? []),
      ...(opts.extra ?? []),
    ];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    track(child);
    const proc: Proc = {
      child,
      stdout: '',
      stderr: '',
      exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      proc.stdout = (proc.stdout + d).slice(-200_000);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      proc.stderr = (proc.stderr + d).slice(-200_000);
    });
    child.on('error', () => {
      // reported through exit
    });
    this.procs.set(id, proc);
    return proc;
  }

  /** The child process of a client (to write to its stdin in REPL mode). */
  child(id: number): ChildProcess {
    const p = this.procs.get(id);
    if (!p) throw new Error(`client ${id} was never started`);
    return p.child;
  }

  exitOf(id: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const p = this.procs.get(id);
    if (!p) throw new Error(`client ${id} was never started`);
    return p.exit;
  }

  /**
   * Starts client `id` in daemon mode and waits until its control socket answers (and, unless
   * waitPeers is false, until it has every peer up). Retries if its port was taken meanwhile.
   */
  async start(id: number, opts: { waitPeers?: boolean; extra?: string[]; retries?: number; config?: string } = {}): Promise<void> {
    const retries = opts.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const proc = this.spawnClient(id, { extra: opts.extra ?? [], ...(opts.config ? { config: opts.config } : {}) });
      let died = false;
      void proc.exit.then(() => (died = true));
      try {
        await waitFor(
          `client ${id} to answer on its control socket`,
          async () => {
            if (died) throw new Error(`client ${id} exited early`);
            const r = await controlRequest(this.dataDir(id), 'status', 2000);
            return r.ok;
          },
          15_000,
        );
        break;
      } catch (e) {
        await killAndWait(proc.child, 'SIGKILL');
        const port = this.config.clients.find((cl) => cl.id === id)?.port;
        // A port handed out by freePorts can be taken by another process's outgoing connection,
        // gone again a moment later: the client's own words say so even when the port is free now.
        const portTaken = port !== undefined && (PORT_IN_USE.test(this.output(id)) || !(await portFree(port)));
        if (!portTaken || attempt >= retries) {
          throw new Error(`client ${id} did not start: ${String(e)}\n${this.output(id)}`);
        }
        await sleep(300);
      }
    }
    if (opts.waitPeers ?? true) await this.waitUp(id);
  }

  /**
   * Waits until client `id` reports every peer up (polling its control socket, the protocol
   * `client ctl` speaks; a Node process per poll would eat the 2 cores), then, with
   * confirmWithCtl, confirms it with a real `client ctl <id> status --json`.
   */
  async waitUp(id: number, timeoutMs = 20_000, confirmWithCtl = this.options.confirmWithCtl ?? false): Promise<void> {
    const want = this.n - 1;
    await waitFor(
      `client ${id} to have all ${want} peers up`,
      async () => {
        if (!this.running(id)) throw new Error(`client ${id} is not running\n${this.output(id)}`);
        const r = await controlRequest(this.dataDir(id), 'status', 2000);
        return Array.isArray(r.json?.peersUp) && r.json.peersUp.length === want;
      },
      timeoutMs,
    );
    if (!confirmWithCtl) return;
    const r = await this.ctl(id, 'status', '--json');
    if (r.code !== 0 || r.json?.peersUp?.length !== want) {
      throw new Error(`client ctl ${id} status --json: expected ${want} peers up, got ${r.stdout} ${r.stderr}`);
    }
  }

  async waitAllUp(confirmWithCtl?: boolean): Promise<void> {
    await Promise.all(this.ids.filter((id) => this.running(id)).map((id) => this.waitUp(id, 20_000, confirmWithCtl)));
  }

  /** `node bin/client.js ctl <id> <words...> --data-dir <dir>` */
  async ctl(id: number, ...words: string[]): Promise<CtlResult> {
    const r = await runClientCli(['ctl', String(id), ...words, '--data-dir', this.dataDir(id)], { timeoutMs: 90_000 });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, json: tryJson(r.stdout) };
  }

  /** `ctl <id> <words...> --json`, failing loudly if the output is not JSON. */
  async ctlJson(id: number, ...words: string[]): Promise<{ code: number | null; json: any }> {
    const r = await this.ctl(id, ...words, '--json');
    if (r.json === undefined) throw new Error(`ctl ${id} ${words.join(' ')} --json printed no JSON: ${r.stdout} / ${r.stderr}`);
    return { code: r.code, json: r.json };
  }

  /** A command over the control socket directly (cheap; for polling and timing-critical steps). */
  raw(id: number, line: string, timeoutMs = 5000): Promise<{ ok: boolean; text: string; json: any }> {
    return controlRequest(this.dataDir(id), line, timeoutMs);
  }

  /** SIGTERM and wait for the exit; returns how it exited. */
  async stop(id: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const p = this.procs.get(id);
    if (!p) throw new Error(`client ${id} was never started`);
    await killAndWait(p.child, 'SIGTERM');
    return p.exit;
  }

  /** SIGKILL and wait for the exit. */
  async kill(id: number): Promise<void> {
    const p = this.procs.get(id);
    if (p) await killAndWait(p.child, 'SIGKILL');
  }

  /** Kills every process of this cluster and removes its temp dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    liveClusters.delete(this);
    await Promise.all([...this.procs.values()].map((p) => killAndWait(p.child, 'SIGKILL')));
    removeTempDir(this.dir);
  }
}

/**
 * SIGKILLs every process whose command line mentions `marker` (a test's unique temp dir): the
 * last resort for grandchildren a failing test would leave behind, which no handle here reaches.
 */
export function killProcessesMentioning(marker: string): number {
  let killed = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (Number(pid) !== process.pid && cmdline.includes(marker)) {
        process.kill(Number(pid), 'SIGKILL');
        killed++;
      }
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return killed;
}

// ---- a terminal: a process on a pseudo-terminal (util-linux `script`), typed into like a person ------

/** Why there is no pseudo-terminal for tests here, or null when `script` (util-linux) is available. */
export function noTerminal(): string | null {
  const r = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (r.error) return `util-linux script is not installed (${r.error.message})`;
  return /util-linux/.test(r.stdout) ? null : `script is not util-linux's (${r.stdout.trim()})`;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Escape sequences (cursor moves, colours) taken out, and carriage returns, so a test reads what a person sees, in order. */
export const stripAnsi = (s: string): string => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

/**
 * `node bin/client.js <args>` on a pseudo-terminal of its own (`script -qfec`), so that stdin is a
 * TTY: readline runs in raw mode, Tab completes, Ctrl-C is a key. Keys are typed with `type`.
 */
export class Terminal {
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private raw = '';
  /** What a terminal emulator shows of the same output: the lines a person reads, with cursor moves applied. */
  private readonly emulator = new HeadlessTerminal({ cols: 250, rows: 50, scrollback: 10_000, allowProposedApi: true });

  private constructor(args: readonly string[], o: { cwd?: string; env?: Readonly<Record<string, string>> }) {
    const command = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
    // TERM=dumb would turn readline's terminal features off; a wide screen keeps lines unwrapped.
    this.child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: o.cwd ?? ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TERM: 'xterm', COLUMNS: '250', LINES: '50', ...(o.env ?? {}) },
    });
    track(this.child);
    const shown = (d: string): void => {
      this.raw += d;
      this.emulator.write(d);
    };
    this.child.stdout!.setEncoding('utf8').on('data', shown);
    this.child.stderr!.setEncoding('utf8').on('data', shown);
    this.exit = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The position just past what the screen shows now, to wait for what comes after it. */
  mark(): number {
    return this.screen.length;
  }

  /** The screen's lines as a terminal shows them (scrollback included), trailing spaces trimmed. */
  async rendered(): Promise<string[]> {
    await new Promise<void>((resolve) => this.emulator.write('', resolve));
    const buffer = this.emulator.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines;
  }

  static start(args: readonly string[], o: { cwd?: string; env?: Readonly<Record<string, string>> } = {}): Terminal {
    return new Terminal(args, o);
  }

  /** Everything shown so far, escape sequences removed. */
  get screen(): string {
    return stripAnsi(this.raw);
  }

  /** Types keys: text, `\t` for Tab, `\r` for Enter, `\u0003` for Ctrl-C, `\u0004` for Ctrl-D, `\u001b[A` for Up. */
  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /**
   * Waits until the screen after position `from` shows `what`; resolves with the position just
   * past it, to wait for the next thing from there.
   */
  async waitFor(what: string | RegExp, from = 0, timeoutMs = 30_000): Promise<number> {
    let at = -1;
    await waitFor(
      `the terminal to show ${String(what)}`,
      () => {
        const rest = this.screen.slice(from);
        if (typeof what === 'string') {
          const i = rest.indexOf(what);
          at = i < 0 ? -1 : from + i + what.length;
        } else {
          const m = what.exec(rest);
          at = m === null ? -1 : from + m.index + m[0].length;
        }
        return at >= 0;
      },
      timeoutMs,
      25,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\nscreen after ${from}:\n${this.screen.slice(from)}`);
    });
    return at;
  }

  /** Kills the terminal (its session gets SIGHUP) if it is still there, and waits. */
  async close(): Promise<void> {
    await killAndWait(this.child, 'SIGKILL');
  }
}
