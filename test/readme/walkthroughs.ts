/**
 * The walkthroughs of the README and docs/*.md, run for real: each one starts clients as a user would (in
 * pseudo-terminals, with `client ctl`, with `client cluster`, through a shell) and returns what
 * the user's screen shows, block by block. Steps wait for what the previous step caused (a commit,
 * a notice, a queue entry), not for a guessed time, so clocks and lock-queue timestamps come out
 * the same in every run.
 *
 * Each walkthrough runs in a temporary directory holding `config/default.json` on free ports, so
 * a client started there with no flags finds it and keeps its data in `data/`, as in a checkout;
 * the text shows the built-in config's ports and paths relative to that directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, Terminal, controlRequest, freePorts, killAndWait, makeTempDir, removeTempDir, sleep, track, waitFor } from '../e2e/harness.js';
import { captureLiveView, startWeb } from '../e2e/web-harness.js';

export interface Walkthrough {
  readonly name: string;
  run(stage: Stage): Promise<Output>;
}

export interface Output {
  /** Block name (unique across the README and docs/*.md) -> its text. */
  readonly blocks: Record<string, string>;
  /** Blocks whose numbers differ from run to run (a random workload, pids, uptimes): compared with numbers masked. */
  readonly loose?: readonly string[];
  /**
   * Blocks whose lines may come in another order (the answer to a line sent with & comes when it
   * comes, before or after the answers to the lines after it): compared as sorted lists of lines.
   */
  readonly anyOrder?: readonly string[];
  /** Files beside the documents that the run regenerates (repo path -> how), only when updating. */
  readonly files?: Record<string, (target: string) => Promise<void>>;
}

interface Status {
  height: number;
  view: number;
  peersUp: number[];
  queue: { node: number }[];
}

interface ConfigFile {
  clients: { id: number; port: number }[];
}

const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; scripts: { start: string } };

/** What npm prints before the script's own output. */
const NPM_START_HEADER = `\n> ${PACKAGE.name}@${PACKAGE.version} start\n> ${PACKAGE.scripts.start}\n`;

/** A temporary directory laid out like a checkout: config/default.json on free ports, data/ for the clients. */
export class Stage {
  private readonly terminals: Terminal[] = [];
  private readonly daemons = new Map<number, ChildProcess>();

  private constructor(
    readonly dir: string,
    private readonly shownPorts: ReadonlyMap<number, number>,
  ) {}

  static async create(): Promise<Stage> {
    const builtIn = JSON.parse(readFileSync(path.join(ROOT, 'config', 'default.json'), 'utf8')) as ConfigFile;
    const ports = await freePorts(builtIn.clients.length);
    const dir = makeTempDir('llreadme-');
    mkdirSync(path.join(dir, 'config'));
    const config = { ...builtIn, clients: builtIn.clients.map((c, i) => ({ ...c, port: ports[i]! })) };
    writeFileSync(path.join(dir, 'config', 'default.json'), `${JSON.stringify(config, null, 2)}\n`);
    return new Stage(dir, new Map(builtIn.clients.map((c, i) => [ports[i]!, c.port])));
  }

  dataDir(id: number): string {
    return path.join(this.dir, 'data', `client-${id}`);
  }

  /** `client <args>` in a terminal of its own, in this directory. */
  terminal(args: readonly string[]): Terminal {
    const t = Terminal.start(args, { cwd: this.dir });
    this.terminals.push(t);
    return t;
  }

  /** `npx client <n> --no-repl <flags> &`: a client in the background. */
  daemon(id: number, flags: readonly string[] = []): void {
    const child = spawn(process.execPath, [BIN, String(id), '--no-repl', ...flags], { cwd: this.dir, stdio: 'ignore' });
    track(child);
    this.daemons.set(id, child);
  }

  /** Sends a signal to a client started with `daemon` (SIGSTOP freezes it, SIGCONT thaws it). */
  signal(id: number, signal: NodeJS.Signals): void {
    const child = this.daemons.get(id);
    if (child === undefined) throw new Error(`client${id} was not started with daemon()`);
    child.kill(signal);
  }

  async stopDaemon(id: number): Promise<void> {
    const child = this.daemons.get(id);
    if (child !== undefined) await killAndWait(child, 'SIGTERM');
  }

  /**
   * `$ npx client <args>` through a shell, and what it printed: stdout and stderr in the order
   * written (`2>&1`), or stdout alone. `args` is shell text (globs expand); `pipe` is shell text
   * after a `|`; `echoExit` adds `; echo "exit $?"` and its line.
   */
  async shell(args: string, o: { shown?: string; input?: string; stdoutOnly?: boolean; pipe?: string; echoExit?: boolean } = {}): Promise<string> {
    const client = `'${process.execPath}' '${BIN}' ${args}`;
    const command = `${client} ${o.stdoutOnly === true ? '2>/dev/null' : '2>&1'}${o.pipe === undefined ? '' : ` | ${o.pipe}`}`;
    const child = spawn('sh', ['-c', command], { cwd: this.dir, stdio: ['pipe', 'pipe', 'inherit'] });
    track(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stdin!.end(o.input ?? '');
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    const shown = `${o.shown ?? `npx client ${args}${o.stdoutOnly === true ? ' 2>/dev/null' : ''}`}${o.pipe === undefined ? '' : ` | ${o.pipe}`}`;
    const lines = [`$ ${shown}${o.echoExit === true ? '; echo "exit $?"' : ''}`];
    if (out.replace(/\n$/, '') !== '') lines.push(out.replace(/\n$/, ''));
    if (o.echoExit === true) lines.push(`exit ${code}`);
    return this.shown(lines.join('\n'));
  }

  /** Writes a file here; returns `$ cat <name>` and its text, for a transcript. */
  file(name: string, text: string): string {
    writeFileSync(path.join(this.dir, name), text);
    return `$ cat ${name}\n${text.trimEnd()}`;
  }

  /** Waits until each client's replica is at `height`. */
  async settle(height: number, ids: readonly number[] = [1, 2, 3]): Promise<void> {
    for (const id of ids) await this.until(id, `block #${height}`, (s) => s.height >= height);
  }

  /** Polls a client's status until `check` holds. */
  async until(id: number, what: string, check: (status: Status) => boolean): Promise<void> {
    await waitFor(`client${id}: ${what}`, async () => check((await controlRequest(this.dataDir(id), 'status')).json), 30_000, 20);
  }

  /**
   * Waits until clients 1..3 are all in one session with each other (the same membership view
   * everywhere) and the confirmations of that view have arrived, so that what is typed next
   * meets the same clocks in every run.
   */
  async formed(): Promise<void> {
    await waitFor('one membership view on every client', async () => {
      const views = await Promise.all([1, 2, 3].map(async (id) => (await controlRequest(this.dataDir(id), 'status')).json as Status));
      return views.every((v) => v.peersUp.length === 2 && v.view === views[0]!.view);
    }, 30_000, 20);
    await sleep(300);
  }

  /** The text as a user of the built-in config sees it: its ports, paths relative to the checkout. */
  shown(text: string): string {
    let t = text.split(`${this.dir}/`).join('').split(this.dir).join('.');
    for (const [port, shown] of this.shownPorts) {
      // In a table cell (followed by spaces) the shorter port keeps the column's width.
      const pad = ' '.repeat(Math.max(0, String(port).length - String(shown).length));
      t = t.replace(new RegExp(`:${port}(?= )`, 'g'), `:${shown}${pad}`).split(`:${port}`).join(`:${shown}`);
    }
    return t;
  }

  /**
   * A terminal's screen, as shown: from the first line starting with `from` (default: the top) to
   * before the first later line starting with `to` (default: the end, an idle prompt left out).
   */
  async screen(t: Terminal, o: { from?: string; to?: string; chatter?: 'drop' | 'startup'; keepPrompt?: boolean } = {}): Promise<string> {
    let lines = (await t.rendered()).map((l) => l.trimEnd());
    const start = o.from === undefined ? 0 : lines.findIndex((l) => l.startsWith(o.from!));
    if (start < 0) throw new Error(`the screen has no line starting with ${JSON.stringify(o.from)}:\n${lines.join('\n')}`);
    lines = lines.slice(start);
    const end = o.to === undefined ? -1 : lines.findIndex((l, i) => i > 0 && l.startsWith(o.to!));
    if (end >= 0) lines = lines.slice(0, end);
    else while (lines.length > 0 && (lines.at(-1) === '' || (o.keepPrompt !== true && /^[\w()]+>$/.test(lines.at(-1)!)))) lines.pop();
    // Lines a cluster's clients print on their own ([client2] ...) come in any order among themselves.
    const chatter = (l: string): boolean => /^\[client\d+\] /.test(l);
    if (o.chatter === 'drop') lines = lines.filter((l) => !chatter(l));
    if (o.chatter === 'startup') {
      const first = lines.findIndex(chatter);
      const up = lines.findIndex((l) => l.startsWith('cluster of '));
      if (first >= 0 && up > first) lines.splice(first, up - first, '...');
    }
    return this.shown(lines.join('\n'));
  }

  async close(): Promise<void> {
    await Promise.all(this.terminals.map((t) => t.close()));
    await Promise.all([...this.daemons.values()].map((d) => killAndWait(d, 'SIGTERM')));
    removeTempDir(this.dir);
  }
}

/** Types a line and Enter, then waits until the screen shows `until` after it. */
async function type(t: Terminal, line: string, until: string | RegExp): Promise<void> {
  const from = t.mark();
  t.type(`${line}\r`);
  await t.waitFor(until, from);
}

/** Clients 1..3 in terminals of their own, started one after another, all connected. */
async function threeTerminals(stage: Stage, flags: (id: number) => readonly string[] = () => []): Promise<[Terminal, Terminal, Terminal]> {
  const c1 = stage.terminal(['1', ...flags(1)]);
  await c1.waitFor('client1> ');
  const c2 = stage.terminal(['2', ...flags(2)]);
  await c1.waitFor('client2 connected');
  const c3 = stage.terminal(['3', ...flags(3)]);
  await c1.waitFor('client3 connected');
  await c2.waitFor('client3 connected');
  await c3.waitFor('client3> ');
  await stage.formed();
  return [c1, c2, c3];
}

async function threeDaemons(stage: Stage): Promise<void> {
  for (const id of [1, 2, 3]) {
    stage.daemon(id);
    await stage.until(id, 'answering', () => true);
  }
  await stage.formed();
}

/** Writes config/<name>, the stage's config changed by `change`; returns its path as typed. */
type RawConfig = Record<string, unknown> & { clients: Record<string, unknown>[] };
function badConfig(stage: Stage, name: string, change: (c: RawConfig) => Record<string, unknown>): string {
  const config = JSON.parse(readFileSync(path.join(stage.dir, 'config', 'default.json'), 'utf8')) as RawConfig;
  writeFileSync(path.join(stage.dir, 'config', name), `${JSON.stringify(change(config), null, 2)}\n`);
  return `config/${name}`;
}

const PIPED_1 = '1 transfer 2 5\n2 transfer 3 1\nall balance\n';
const PIPED_2 = '1 transfer 2 100\n2 balance\n';
const printf = (input: string): string => `printf '${input.replace(/\n/g, '\\n')}'`;

export const walkthroughs: readonly Walkthrough[] = [
  {
    name: 'npm start, its help, ps/stop/start',
    async run(stage) {
      const t = stage.terminal(PACKAGE.scripts.start.replace(/^node bin\/client\.js /, '').split(' '));
      await t.waitFor('cluster(client1)> ');
      await stage.formed();
      await type(t, '1 transfer 2 5', /SUCCESS|FAILED/);
      await stage.settle(1);
      await t.waitFor(/\[client2\] .*block #1 from client1/);
      await t.waitFor(/\[client3\] .*block #1 from client1/);
      await type(t, 'snapshot', /verified.*\n/);
      await type(t, 'help', /Tab completes.*\n/);
      await type(t, 'help use', /e\.g\. .*\n/);
      await type(t, 'ps', /client3 .*\n/);
      await type(t, 'stop 3', /client3 stopped.*\n/);
      const pid = /client2 +up \d+ s +(\d+)/.exec(t.screen)?.[1];
      if (pid === undefined) throw new Error(`no pid for client2 in:\n${t.screen}`);
      process.kill(Number(pid), 'SIGKILL');
      await t.waitFor('exited (SIGKILL)');
      await type(t, 'ps', /client3 .*\n/);
      await type(t, '2 balance', /is not running.*\n/);
      await type(t, 'start all', /client3 started.*\n/);
      await type(t, 'restart 1', /client1 restarted.*\n/);
      return {
        blocks: {
          'npm-start': `$ npm start\n${NPM_START_HEADER}\n${await stage.screen(t, { to: 'cluster(client1)> help', chatter: 'startup' })}`,
          'cluster-help': await stage.screen(t, { from: 'cluster(client1)> help', to: 'cluster(client1)> ps' }),
          'cluster-ps': await stage.screen(t, { from: 'cluster(client1)> ps', chatter: 'drop' }),
        },
        loose: ['cluster-ps'],
      };
    },
  },
  {
    name: 'piped into npm start',
    async run(stage) {
      const run = (input: string): Promise<string> =>
        stage.shell('cluster --config config/default.json', { input, stdoutOnly: true, echoExit: true, shown: `${printf(input)} | npm start --silent 2>/dev/null` });
      const piped = `${await run(PIPED_1)}\n${await run(PIPED_2)}`;
      const fresh = await stage.shell('cluster --config config/default.json --fresh', { input: '1 balance\n', shown: `${printf('1 balance\n')} | npm start --silent -- --fresh` });
      return { blocks: { 'cluster-piped': piped, 'cluster-fresh': fresh } };
    },
  },
  {
    name: 'npm start with the clients already running',
    async run(stage) {
      await threeDaemons(stage);
      const refused = await stage.shell('cluster --config config/default.json', { shown: 'npm start' });
      const input = '1 transfer 2 1\nps\n';
      const attached = await stage.shell('cluster --config config/default.json --attach', { input, shown: `${printf(input)} | npm start --silent -- --attach` });
      return { blocks: { 'cluster-refused': refused, 'cluster-attach': attached } };
    },
  },
  {
    name: 'three terminals',
    async run(stage) {
      const [c1, c2, c3] = await threeTerminals(stage);
      await type(c1, 'transfer 2 4.50', /SUCCESS|FAILED/);
      await stage.settle(1);
      await type(c2, 'transfer 3 1', /SUCCESS|FAILED/);
      await stage.settle(2);
      await c1.waitFor('block #2 from client2');
      await type(c1, 'tranfer 2 1', 'did you mean');
      await type(c1, 'transfer 2 -1', 'must be positive');
      await type(c1, 'transfer 2 1.234', 'decimal places');
      await type(c1, 'transfer 7 1', 'unknown recipient');
      await type(c1, 'transfer 2 100', 'FAILED');
      await type(c1, 'chain', /height \d+\n/);
      await type(c1, 'status', /snapshots .*\n/);
      await type(c3, 'balance all', /this replica at .*\n/);
      return {
        blocks: {
          'three-terminals-1': await stage.screen(c1),
          'three-terminals-3': await stage.screen(c3, { from: 'client3> balance all' }),
        },
      };
    },
  },
  {
    name: 'piped into one client whose peers are down',
    async run(stage) {
      const input = 'transfer 2 1\nbalance all\n';
      const run = await stage.shell('1 --transfer-timeout 3', { input, echoExit: true, shown: `${printf(input)} | npx client 1 --transfer-timeout 3` });
      return { blocks: { 'piped-peers-down': run } };
    },
  },
  {
    name: 'a transfer before every peer is up',
    async run(stage) {
      const c1 = stage.terminal(['1', '--transfer-timeout', '2']);
      await c1.waitFor('client1> ');
      stage.daemon(2);
      await c1.waitFor('client2 connected');
      await type(c1, 'transfer 2 1', /FAILED.*\n/);
      return { blocks: { 'transfer-timeout': `$ npx client 1 --transfer-timeout 2\n${await stage.screen(c1)}` } };
    },
  },
  {
    name: 'Ctrl-C',
    async run(stage) {
      const c1 = stage.terminal(['1', '--delay', '2000']);
      await c1.waitFor('client1> ');
      c1.type('transfer 2 4.5');
      await c1.waitFor('transfer 2 4.5');
      let from = c1.mark();
      c1.type('\u0003');
      await c1.waitFor('client1> ', from);
      await type(c1, 'status', /delay .*\n/);
      from = c1.mark();
      c1.type('\u0003');
      await c1.waitFor('to leave', from);
      c1.type('\u0003');
      await c1.exit;
      return { blocks: { 'ctrl-c': await stage.screen(c1, { keepPrompt: true }) } };
    },
  },
  {
    name: 'mistyped commands',
    async run(stage) {
      const blocks = [await stage.shell('--version'), await stage.shell('ctrl 1 status'), await stage.shell('1 status')];
      const configs = [
        // A field misnamed at the top, one in a client, and a value of the wrong kind.
        badConfig(stage, 'typo.json', (c) => ({ ...c, transferTimeout: 5000 })),
        badConfig(stage, 'nodes.json', ({ clients, ...c }) => ({ ...c, nodes: clients })),
        badConfig(stage, 'balance.json', (c) => ({ ...c, clients: c.clients.map(({ balanceCents, ...x }) => ({ ...x, balance: balanceCents })) })),
        badConfig(stage, 'port.json', (c) => ({ ...c, clients: c.clients.map((x) => (x.id === 2 ? { ...x, port: 'abc' } : x)) })),
      ];
      const errors: string[] = [];
      for (const file of configs) errors.push(await stage.shell(`1 --config ${file}`, { echoExit: true }));
      return {
        blocks: {
          mistyped: blocks.join('\n'),
          'protected-mode': await stage.shell('1 --listen 0.0.0.0', { echoExit: true }),
          'config-errors': errors.join('\n'),
        },
      };
    },
  },
  {
    name: 'client ctl',
    async run(stage) {
      await threeDaemons(stage);
      const steps = [await stage.shell('ctl 1 transfer 2 4.50'), await stage.shell('ctl 1 transfer 2 100', { echoExit: true })];
      await stage.settle(1);
      steps.push(await stage.shell('ctl 1 balance all --json'));
      steps.push(await stage.shell('ctl 1 transfer 2 1 --json'));
      steps.push(await stage.shell('ctl 4 status', { echoExit: true }));
      await stage.stopDaemon(2);
      steps.push(await stage.shell('ctl 2 status', { echoExit: true }));
      return { blocks: { ctl: steps.join('\n') } };
    },
  },
  {
    name: 'a snapshot with messages in flight',
    async run(stage) {
      // Messages take 2 s (2.5 s from client3, so that client2 hears client1's REPLY before
      // client3's); each step below comes half a second or more from the events around it.
      const [c1, c2, c3] = await threeTerminals(stage, (id) => ['--delay', id === 3 ? '2500' : '2000']);
      await type(c1, 'transfer 2 4.50', 'client1> ');
      await stage.until(2, "client1's request in its queue", (s) => s.queue.some((e) => e.node === 1));
      await sleep(1000);
      c2.type('transfer 3 1\r');
      await stage.until(1, 'block #1', (s) => s.height >= 1);
      await sleep(1000);
      await type(c3, 'snapshot', /verified.*\n/);
      await c2.waitFor('SUCCESS');
      const block = await stage.screen(c3, { from: 'client3> snapshot' });
      const id = /^snapshot (\d+\.\d+)/m.exec(block)?.[1];
      if (id === undefined) throw new Error(`no snapshot id in:\n${block}`);
      return {
        blocks: { 'snapshot-in-flight': block },
        files: {
          'docs/snapshot-walkthrough.png': async (target) => {
            const html = path.join(stage.dir, 'snapshot.html');
            await type(c3, `snapshot show ${id} --html ${html}`, /wrote|error/);
            await screenshotDiagram(html, target);
          },
        },
      };
    },
  },
  {
    name: 'trace on',
    async run(stage) {
      // client3's messages take 100 ms, so its REPLY comes second in every run.
      stage.daemon(2);
      await stage.until(2, 'answering', () => true);
      stage.daemon(3, ['--delay', '100']);
      await stage.until(3, 'client2 up', (s) => s.peersUp.includes(2));
      const c1 = stage.terminal(['1']);
      await stage.formed();
      await type(c1, 'trace on', 'tracing messages');
      await type(c1, 'transfer 2 1', /SUCCESS.*\n/);
      return { blocks: { 'trace-on': await stage.screen(c1, { from: 'client1> trace on' }) } };
    },
  },
  {
    name: 'client web, the live view',
    async run(stage) {
      await threeDaemons(stage);
      const web = await startWeb([], stage.dir);
      let block: string;
      try {
        await waitFor('client web to say how it stops', () => web.output().includes('Ctrl-C stops'));
        block = `$ npx client web\n${stage.shown(web.output().trimEnd())}`;
      } finally {
        await web.stop();
      }
      return {
        blocks: { 'client-web': block },
        files: {
          // The page at the end of its guided demo, on the same three clients.
          'docs/live-view.png': async (target) => {
            const again = await startWeb([], stage.dir);
            try {
              await captureLiveView(again.url, target);
            } finally {
              await again.stop();
            }
          },
        },
      };
    },
  },
  {
    name: 'transfer keys, tx, and giving up',
    async run(stage) {
      await threeDaemons(stage);
      const keys = [
        await stage.shell('ctl 1 transfer 2 4.50 --id rent-2026-11'),
        await stage.shell('ctl 1 transfer 2 4.50 --id rent-2026-11'),
        await stage.shell('ctl 1 transfer 2 5 --id rent-2026-11', { echoExit: true }),
        await stage.shell('ctl 1 tx rent-2026-11'),
      ];
      await stage.settle(1);
      keys.push(await stage.shell('ctl 3 tx rent-2026-11'));
      keys.push(await stage.shell('ctl 1 transfer 3 1'));
      await stage.settle(2);
      // client2 frozen: client1's REQUEST gets no REPLY from it, and ctl gives up after 2 s.
      stage.signal(2, 'SIGSTOP');
      let gaveUp: string;
      try {
        gaveUp = await stage.shell('ctl 1 transfer 3 1 --id gift-7 --timeout 2', { echoExit: true, shown: 'npx client ctl 1 transfer 3 1 --id gift-7 --timeout 2' });
      } finally {
        stage.signal(2, 'SIGCONT');
      }
      const asked = await stage.shell('ctl 1 tx gift-7');
      return {
        blocks: {
          'transfer-keys': keys.join('\n'),
          'ctl-withdrawn': `$ kill -STOP <client2's pid>\n${gaveUp}\n$ kill -CONT <client2's pid>\n${asked}`,
        },
      };
    },
  },
  {
    name: 'trace on at the cluster prompt',
    async run(stage) {
      const input = '3 link delay 1 100\ntrace on\n1 transfer 2 1\nsettle\nall balance\n';
      const run = await stage.shell('cluster --config config/default.json', { input, stdoutOnly: true, echoExit: true, shown: `${printf(input)} | npm start --silent 2>/dev/null` });
      return { blocks: { 'cluster-trace-on': run } };
    },
  },
  {
    name: 'a held link',
    async run(stage) {
      // The status comes a second after the transfer started, when client2's REPLY is in and
      // client3's REQUEST waits on the held link.
      const input = '1 link hold 3\n1 transfer 2 1 &\nsleep 1000\n1 status\n1 link release 3\nsettle\n1 link delay 3 100-300\n';
      const run = await stage.shell('cluster --config config/default.json', { input, stdoutOnly: true, echoExit: true, shown: `${printf(input)} | npm start --silent 2>/dev/null` });
      return { blocks: { 'link-hold': run }, anyOrder: ['link-hold'] };
    },
  },
  {
    name: 'a random workload',
    async run(stage) {
      const run = await stage.shell('cluster 3 --auto 100 --duration 3 --snapshot-every 1 --delay 0-20');
      return { blocks: { 'random-workload': run }, loose: ['random-workload'] };
    },
  },
  {
    name: 'command files',
    async run(stage) {
      cpSync(path.join(ROOT, 'examples'), path.join(stage.dir, 'examples'), { recursive: true });
      const typos = stage.file('typos.txt', '1 transfer 2 1\nwaitt 100\n1 tranfer 2 1\nexpect convereged\nclear\n');
      const wrong = stage.file('wrong.txt', '1 transfer 2 1\nexpect all balance 2 99\n');
      const inFlight = await stage.shell('cluster run examples/snapshot-in-flight.txt --data-dir run');
      const trace = [
        await stage.shell('trace run/client-* --snapshot 1.1 --html trace.html --shiviz trace.shiviz.log'),
        await stage.shell('trace run/client-1 run/client-9', { echoExit: true }),
      ];
      return {
        blocks: {
          'cluster-run-in-flight': inFlight,
          'client-trace': trace.join('\n'),
          'cluster-run': await stage.shell('cluster run examples/basic.txt'),
          'cluster-run-typos': [typos, await stage.shell('cluster run examples/basic.txt typos.txt'), wrong, await stage.shell('cluster run examples/*.txt wrong.txt', { pipe: "grep -v '^[ >]'" })].join('\n'),
        },
        anyOrder: ['cluster-run-in-flight'],
        // How many events the clients traced while stopping (a peer going down, a last heartbeat) varies.
        loose: ['client-trace'],
      };
    },
  },
];

/** A PNG of the diagram on a trace page, as headless chromium draws it. */
async function screenshotDiagram(html: string, target: string): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(`file://${html}`);
    const svg = page.locator('.diagram svg').first();
    const size = await svg.evaluate((e) => ({ width: e.getBoundingClientRect().width, height: e.getBoundingClientRect().height }));
    // A window wide and tall enough that the diagram's scroll box shows all of it beside the legend.
    await page.setViewportSize({ width: Math.ceil(size.width) + 420, height: Math.ceil(size.height / 0.75) + 300 });
    await svg.screenshot({ path: target });
  } finally {
    await browser.close();
  }
}
