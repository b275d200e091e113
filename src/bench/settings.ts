/** What `client bench` can run: its phases and the settings it compares with the defaults. */

export const PHASES = ['baseline', 'uncontended', 'contended-1', 'batched', 'snapshots', 'memory'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * Settings whose cost the benchmark shows beside the defaults: each runs contended-1 and batched
 * on a cluster of its own, in the same run, right after the default cluster's phases.
 */
export const VARIANTS = {
  'no-fsync': { description: 'no fdatasync before a block is released (--no-fsync)', args: ['--no-fsync'], env: {}, watched: false },
  secret: { description: 'a cluster secret on every channel (TLS)', args: [], env: { LAMPORT_LEDGER_SECRET: 'bench-secret-of-the-cluster' }, watched: false },
  'no-trace': { description: 'no protocol trace file (--no-trace)', args: ['--no-trace'], env: {}, watched: false },
  watched: { description: 'a live view watching (client web subscribed to every client, its event stream read to the end)', args: [], env: {}, watched: true },
} as const satisfies Record<string, { description: string; args: readonly string[]; env: Readonly<Record<string, string>>; watched: boolean }>;
export type Variant = keyof typeof VARIANTS;
/** What --compare measures when not told: the settings of a client, not the live view (ask for watched). */
export const DEFAULT_COMPARE: readonly Variant[] = ['no-fsync', 'secret', 'no-trace'];
