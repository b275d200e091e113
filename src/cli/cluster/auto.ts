/** `client cluster --auto RATE`: random transfers between random clients, then a summary that checks the outcome. */
import { formatCents } from '../../core/money.js';
import { sleep } from '../../cluster/spawner.js';
import { centsToInput } from '../format.js';
import { succeeded } from '../interpret.js';
import type { ClusterSession } from './session.js';

export interface AutoOptions {
  readonly rate: number;
  readonly durationS: number;
  readonly seed: number;
}

export interface AutoSummary {
  committed: number;
  failed: number;
  snapshots: number;
  snapshotsVerified: number;
  balances: Record<string, number>;
  total: number;
  expectedTotal: number;
  conserved: boolean;
  chainsIdentical: boolean;
}

/** Random transfers between random clients at `rate`/s for `durationS` seconds, typed as a user would. */
export async function runAuto(cluster: ClusterSession, o: AutoOptions, log: (line: string) => void): Promise<AutoSummary> {
  // A seeded xorshift so a run's workload can be repeated (--seed).
  let x = o.seed >>> 0 || 1;
  const rand = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const ids = cluster.ids;
  const summary: AutoSummary = { committed: 0, failed: 0, snapshots: 0, snapshotsVerified: 0, balances: {}, total: 0, expectedTotal: 0, conserved: false, chainsIdentical: false };
  const inFlight: Promise<void>[] = [];
  const end = Date.now() + o.durationS * 1000;
  const interval = 1000 / o.rate;
  let next = Date.now();
  while (Date.now() < end) {
    const from = ids[Math.floor(rand() * ids.length)]!;
    const others = ids.filter((i) => i !== from);
    const to = others[Math.floor(rand() * others.length)]!;
    // One in ten beyond any balance, so refusals are exercised too.
    const cents = rand() < 0.1 ? 100_000 + Math.floor(rand() * 100_000) : 1 + Math.floor(rand() * 300);
    inFlight.push(
      cluster.run(from, `transfer ${to} ${centsToInput(cents)}`).then(
        (answer) => {
          if (succeeded(answer)) summary.committed++;
          else summary.failed++;
        },
        () => {
          summary.failed++;
        },
      ),
    );
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(inFlight);
  await cluster.settle();
  for (const id of ids) {
    const { snapshots } = await cluster.client(id).snapshots();
    for (const s of snapshots) {
      if (!s.id.startsWith(`${id}.`)) continue;
      summary.snapshots++;
      if (s.verified) summary.snapshotsVerified++;
    }
  }
  const views = await Promise.all(ids.map((id) => cluster.client(id).balances()));
  summary.balances = { ...views[0]!.balances };
  summary.total = Object.values(summary.balances).reduce((a, b) => a + b, 0);
  summary.expectedTotal = cluster.config.clients.reduce((a, c) => a + c.balanceCents, 0);
  summary.chainsIdentical = views.every((v) => v.head === views[0]!.head);
  summary.conserved = summary.total === summary.expectedTotal && views.every((v) => JSON.stringify(v.balances) === JSON.stringify(summary.balances));
  log(renderSummary(summary));
  return summary;
}

export function renderSummary(s: AutoSummary): string {
  return [
    `committed ${s.committed}, failed ${s.failed}`,
    `snapshots ${s.snapshots} taken, ${s.snapshotsVerified} verified`,
    `final balances: ${Object.entries(s.balances).map(([k, v]) => `client${k} ${formatCents(v)}`).join(', ')}`,
    `total ${formatCents(s.total)} of ${formatCents(s.expectedTotal)}: conserved ${s.conserved ? 'yes' : 'NO'}; chains identical ${s.chainsIdentical ? 'yes' : 'NO'}`,
  ].join('\n');
}
