/**
 * `client cluster run FILE`: a command file against a running local cluster. Lines:
 * `<n|all> <command>` (waits for the result; a trailing `&` does not), `wait MS`, `settle`,
 * `expect ...` (see the README), `# comments`. Stops at the first failed expect.
 */
import { readFileSync } from 'node:fs';
import { formatCents } from '../../core/money.js';
import { sleep } from '../../cluster/spawner.js';
import { KindedError } from '../../shared/errors.js';
import { type Answer, succeeded } from '../interpret.js';
import { renderAnswer } from '../render.js';
import { addressOf } from './prompt.js';
import type { ClusterSession } from './session.js';

export const ScriptErrorKind = {
  /** A line that is not an instruction of the language. */
  BadLine: 'BAD_LINE',
  /** An `expect` that did not hold. */
  ExpectFailed: 'EXPECT_FAILED',
} as const;
export type ScriptErrorKind = (typeof ScriptErrorKind)[keyof typeof ScriptErrorKind];

/** `wrong.txt:2: expect failed: client1 sees client2 at $11.00, expected $99.00` */
export class ScriptError extends KindedError<ScriptErrorKind> {
  constructor(
    kind: ScriptErrorKind,
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(kind, `${file}:${line}: ${message}`);
  }
}

interface SnapshotSeen {
  readonly verified: boolean;
  readonly verdict: string;
}

export async function runScript(cluster: ClusterSession, file: string, log: (line: string) => void): Promise<void> {
  const lines = readFileSync(file, 'utf8').split('\n');
  const background: Promise<unknown>[] = [];
  let last: Answer | null = null;
  let lastSnapshot: SnapshotSeen | null = null;
  for (let i = 0; i < lines.length; i++) {
    const no = i + 1;
    const text = lines[i]!.replace(/#.*$/, '').trim();
    if (!text) continue;
    const bad = (why: string): never => {
      throw new ScriptError(ScriptErrorKind.BadLine, file, no, why);
    };
    log(`> ${text}`);
    const [word = '', ...args] = text.split(/\s+/);
    if (word === 'wait') {
      const ms = Number(args[0]);
      if (!Number.isInteger(ms) || ms < 0) bad(`wait takes milliseconds, e.g. wait 500`);
      await sleep(ms);
      continue;
    }
    if (word === 'settle') {
      await Promise.all(background.splice(0));
      await cluster.settle();
      continue;
    }
    if (word === 'expect') {
      await Promise.all(background.splice(0));
      await expectLine(cluster, args, last, lastSnapshot).then(
        (msg) => log(`  ok: ${msg}`),
        (e: unknown) => {
          throw new ScriptError(ScriptErrorKind.ExpectFailed, file, no, `expect failed: ${e instanceof Error ? e.message : String(e)}`);
        },
      );
      continue;
    }
    const inBackground = text.endsWith('&');
    const a = addressOf(inBackground ? text.slice(0, -1) : text, cluster.ids, cluster.ids[0]!);
    if ('error' in a) return bad(a.error);
    if (!/^(\d+|client\d+|all)$/.test(word)) bad(`address a client first, e.g. "1 ${text}" or "all ${text}"`);
    const run = Promise.all(
      a.targets.map(async (id) => {
        const answer = await cluster.run(id, a.command);
        log(`  client${id}: ${renderAnswer(answer).replace(/\n/g, '\n    ')}`);
        last = answer;
        if (answer.type === 'snapshot') {
          const s = answer.answer;
          lastSnapshot = s.ok ? { verified: s.record.verified, verdict: s.record.verdict } : { verified: false, verdict: renderAnswer(answer) };
        }
      }),
    );
    if (inBackground) background.push(run);
    else await run;
  }
  await Promise.all(background);
}

/** `expect <n> balance <m> <amount>`, `expect <n|all> height <h>`, `expect ok|failed`, `expect snapshot verified`, `expect converged`. */
async function expectLine(cluster: ClusterSession, args: string[], last: Answer | null, lastSnapshot: SnapshotSeen | null): Promise<string> {
  const [a = '', b = '', c = '', d = ''] = args;
  if (a === 'ok' || a === 'failed') {
    if (!last) throw new Error('no command has run yet');
    const ok = succeeded(last);
    if (ok !== (a === 'ok')) throw new Error(`the last command ${ok ? 'succeeded' : 'failed'}: ${renderAnswer(last).split('\n')[0]}`);
    return `last command ${a}`;
  }
  if (a === 'snapshot' && b === 'verified') {
    if (!lastSnapshot) throw new Error('no snapshot has been taken yet');
    if (!lastSnapshot.verified) throw new Error(lastSnapshot.verdict);
    return lastSnapshot.verdict;
  }
  if (a === 'converged') {
    const views = await Promise.all(cluster.ids.map((id) => cluster.client(id).chain(1)));
    if (!views.every((v) => v.head === views[0]!.head)) throw new Error(`chains differ: ${views.map((v, i) => `client${cluster.ids[i]} #${v.height} ${v.head.slice(0, 8)}`).join(', ')}`);
    return `every chain at #${views[0]!.height} ${views[0]!.head.slice(0, 8)}`;
  }
  const targets = a === 'all' ? cluster.ids : [Number(a.replace(/^client/, ''))];
  if (targets.some((t) => !cluster.ids.includes(t))) throw new Error(`unknown client ${a}`);
  if (b === 'height') {
    const want = Number(c);
    for (const id of targets) {
      const h = (await cluster.client(id).chain(1)).height;
      if (h !== want) throw new Error(`client${id} is at height ${h}, expected ${want}`);
    }
    return `height ${want}`;
  }
  if (b === 'balance') {
    const who = c.replace(/^client/, '');
    const m = /^\$?(\d+)(?:\.(\d{1,2}))?$/.exec(d);
    if (!m) throw new Error(`expect ${a} balance ${c} <amount>: "${d}" is not an amount`);
    const want = Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
    for (const id of targets) {
      const got = (await cluster.client(id).balances()).balances[who];
      if (got === undefined) throw new Error(`no client ${c}`);
      if (got !== want) throw new Error(`client${id} sees client${who} at ${formatCents(got)}, expected ${formatCents(want)}`);
    }
    return `client${who} has ${formatCents(want)}`;
  }
  throw new Error(`unknown expectation "${args.join(' ')}" (see the README: expect <n> balance <m> <amount> | <n|all> height <h> | ok | failed | snapshot verified | converged)`);
}
