/**
 * The REPL's interpreter: a parsed command carried out through the daemon's API, in-process or
 * over the control socket alike, answered as a typed value that `render.ts` turns into text and
 * `json.ts` into the --json form.
 */
import type {
  BalancesView,
  ChainView,
  Identity,
  LedgerApi,
  LinkChange,
  LinksView,
  PeersView,
  SnapshotAnswer,
  SnapshotListing,
  StatusView,
  TransferAnswer,
} from '../daemon/api.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SnapshotRecord } from '../daemon/snapshot-record.js';
import { describeCause } from '../base/errors.js';
import type { TxState } from '../core/api.js';
import type { NodeId } from '../core/types.js';
import { type CommandName, type ReplCommand, parseCommandLine } from './parse.js';

export type Answer =
  /** A blank line or a comment. */
  | { readonly type: 'empty' }
  /** A line that did not parse: nothing was sent. */
  | { readonly type: 'invalid'; readonly error: string }
  /** `exit` where there is no session to end (through the control socket). */
  | { readonly type: 'exitRefused' }
  | { readonly type: 'transfer'; readonly result: TransferAnswer }
  /** What became of the transfer with a key, on client `self`. */
  | { readonly type: 'tx'; readonly self: NodeId; readonly state: TxState }
  | { readonly type: 'balances'; readonly view: BalancesView }
  | { readonly type: 'balance'; readonly client: NodeId; readonly view: BalancesView }
  | { readonly type: 'snapshot'; readonly answer: SnapshotAnswer }
  | { readonly type: 'snapshots'; readonly listing: SnapshotListing }
  | { readonly type: 'savedSnapshot'; readonly id: string; readonly record: SnapshotRecord | null; readonly page?: DiagramPage }
  | { readonly type: 'chain'; readonly view: ChainView }
  | { readonly type: 'peers'; readonly self: NodeId; readonly view: PeersView }
  | { readonly type: 'status'; readonly view: StatusView }
  /** The links, after `change` to the one to `peer` if a change was asked for. */
  | { readonly type: 'links'; readonly view: LinksView; readonly changed?: { readonly peer: NodeId; readonly change: LinkChange } }
  | { readonly type: 'help'; readonly topic: CommandName | null }
  /** `trace on|off` away from a client's own prompt (through the control socket): it prints there only. */
  | { readonly type: 'traceElsewhere' }
  /** `clear` away from a prompt (through the control socket): there is no screen to clear. */
  | { readonly type: 'clearElsewhere' };

/** The space-time diagram `snapshot show <id> --html` wrote, or why it could not. */
export type DiagramPage = { readonly ok: true; readonly file: string; readonly summary: string; readonly cut: string | null } | { readonly ok: false; readonly error: string };

/** Where the command runs: the data dir of the client it speaks for, when known. */
export interface Here {
  readonly dataDir?: string;
}

/**
 * The traces a diagram is drawn from: this client's data dir, and its peers' laid out beside it,
 * named as this one with the client number changed (`data/client-2` beside `data/client-1`, as
 * `npm start`, `client cluster` and three terminals lay them out).
 */
function clusterDataDirs(dataDir: string, who: Identity): string[] {
  const named = /^(.*?)(\d+)(\D*)$/.exec(path.basename(dataDir));
  if (named === null || Number(named[2]) !== who.self) return [dataDir];
  const [, before = '', , after = ''] = named;
  const beside = who.nodes.filter((n) => n !== who.self).map((n) => path.join(path.dirname(dataDir), `${before}${n}${after}`)).filter((d) => existsSync(d));
  return [dataDir, ...beside];
}

async function diagram(id: string, file: string, who: Identity, here: Here): Promise<DiagramPage> {
  if (here.dataDir === undefined) return { ok: false, error: 'the diagram needs the data dirs (give --data-dir)' };
  try {
    // The diagram's code is loaded only when a diagram is asked for.
    const { writeSnapshotPage } = await import('../trace/run.js');
    const report = await writeSnapshotPage(clusterDataDirs(here.dataDir, who), id, file);
    return { ok: true, file, summary: report.summary, cut: report.snapshot };
  } catch (e) {
    return { ok: false, error: describeCause(e) };
  }
}

/** Carries out one parsed command for client `who.self`. */
export async function interpret(command: ReplCommand, ledger: LedgerApi, who: Identity, here: Here = {}): Promise<Answer> {
  switch (command.type) {
    case 'empty':
      return { type: 'empty' };
    case 'transfer':
      return { type: 'transfer', result: await ledger.transfer(command.to, command.amount, command.key) };
    case 'tx':
      return { type: 'tx', self: who.self, state: await ledger.tx(command.key) };
    case 'balance': {
      const view = await ledger.balances();
      return command.target === 'all' ? { type: 'balances', view } : { type: 'balance', client: command.target === 'self' ? who.self : command.target, view };
    }
    case 'snapshot':
      return { type: 'snapshot', answer: await ledger.snapshot() };
    case 'snapshots':
      return { type: 'snapshots', listing: await ledger.snapshots() };
    case 'snapshotShow': {
      const record = await ledger.savedSnapshot(command.id);
      if (command.html === undefined || record === null) return { type: 'savedSnapshot', id: command.id, record };
      return { type: 'savedSnapshot', id: command.id, record, page: await diagram(command.id, command.html, who, here) };
    }
    case 'trace':
      // A client's own prompt handles it before it gets here: the lines print where it runs.
      return { type: 'traceElsewhere' };
    case 'chain':
      return { type: 'chain', view: await ledger.chain(command.last) };
    case 'peers':
      return { type: 'peers', self: who.self, view: await ledger.peers() };
    case 'status':
      return { type: 'status', view: await ledger.status() };
    case 'links':
      return { type: 'links', view: await ledger.links() };
    case 'link':
      return { type: 'links', view: await ledger.link(command.peer, command.change), changed: { peer: command.peer, change: command.change } };
    case 'clear':
      // A prompt clears its screen before it gets here.
      return { type: 'clearElsewhere' };
    case 'help':
      return { type: 'help', topic: command.topic ?? null };
    case 'exit':
      // A REPL ends its session before it gets here; anywhere else there is none to end.
      return { type: 'exitRefused' };
  }
}

/** Parses one line as client `who.self`'s REPL would, and carries it out. */
export function runLine(line: string, ledger: LedgerApi, who: Identity, here: Here = {}): Promise<Answer> {
  const parsed = parseCommandLine(line, who);
  return parsed.ok ? interpret(parsed.command, ledger, who, here) : Promise.resolve({ type: 'invalid', error: parsed.error });
}

/** Whether the command did what it was asked: the exit status of `client ctl`. */
export function succeeded(a: Answer): boolean {
  switch (a.type) {
    case 'invalid':
    case 'exitRefused':
    case 'traceElsewhere':
    case 'clearElsewhere':
      return false;
    case 'transfer':
      return a.result.ok;
    case 'snapshot':
      return a.answer.ok && a.answer.record.verified;
    case 'savedSnapshot':
      return a.record !== null && (a.page === undefined || a.page.ok);
    case 'empty':
    case 'tx':
    case 'balances':
    case 'balance':
    case 'snapshots':
    case 'chain':
    case 'peers':
    case 'status':
    case 'links':
    case 'help':
      return true;
  }
}
