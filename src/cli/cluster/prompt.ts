/** The one prompt of `client cluster`: REPL lines addressed to one client, every client, or the current one. */
import readline from 'node:readline';
import type { NodeId } from '../../core/types.js';
import { answerJson } from '../json.js';
import { renderAnswer } from '../render.js';
import { printAbovePrompt } from '../repl.js';
import type { ClusterSession } from './session.js';

/** A line addressed to the cluster: `2 transfer 3 1.50`, `all balance`, or a bare command. */
export function addressOf(line: string, ids: readonly NodeId[], current: NodeId): { targets: NodeId[]; command: string } | { error: string } {
  const [first = '', ...rest] = line.trim().split(/\s+/);
  if (first === 'all') return rest.length ? { targets: [...ids], command: rest.join(' ') } : { error: 'all what? e.g. all balance' };
  const n = Number(first.replace(/^client/, ''));
  if (/^(client)?\d+$/.test(first)) {
    if (!ids.includes(n)) return { error: `unknown client ${first}: the cluster has ${ids.map((i) => `client${i}`).join(', ')}` };
    return rest.length ? { targets: [n], command: rest.join(' ') } : { error: `what should client${n} do? e.g. ${n} balance all` };
  }
  return { targets: [current], command: line.trim() };
}

/** The interactive cluster prompt. Resolves when the user leaves. */
export async function clusterRepl(cluster: ClusterSession, json: boolean): Promise<void> {
  let current = cluster.ids[0]!;
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: `cluster(client${current})> `, historySize: 1000 });
  const print = (text: string): void => printAbovePrompt(rl, process.stdout, text);
  // The clients' own lines go above the prompt too from now on.
  cluster.echoThrough(print);
  process.stdout.write(`cluster of ${cluster.ids.length} clients is up. Address a client: "2 transfer 3 1.50", every client: "all balance", set the default: "use 2". exit or Ctrl-C stops them all.\n`);
  return new Promise((resolve) => {
    rl.on('line', (line) => {
      const t = line.trim();
      if (t === '') return rl.prompt();
      if (t === 'exit' || t === 'quit') return rl.close();
      const use = /^use\s+(?:client)?(\d+)$/.exec(t);
      if (use) {
        const n = Number(use[1]);
        if (!cluster.ids.includes(n)) print(`error: unknown client ${use[1]}`);
        else {
          current = n;
          rl.setPrompt(`cluster(client${current})> `);
        }
        return rl.prompt();
      }
      const a = addressOf(t, cluster.ids, current);
      if ('error' in a) return print(`error: ${a.error}`);
      for (const id of a.targets) {
        cluster.run(id, a.command).then(
          (answer) => print(`${a.targets.length > 1 || id !== current ? `client${id}: ` : ''}${json ? JSON.stringify(answerJson(answer)) : renderAnswer(answer).replace(/\n/g, `\n${a.targets.length > 1 ? '  ' : ''}`)}`),
          (e: unknown) => print(`client${id}: error: ${e instanceof Error ? e.message : String(e)}`),
        );
      }
      rl.prompt();
    });
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => resolve());
    rl.prompt();
  });
}
