/**
 * The `client bench` command: its options and their parsers. The benchmark itself (index.ts) is
 * loaded when the command runs.
 */
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_COMPARE, PHASES, type Phase, VARIANTS, type Variant } from './settings.js';

function parseClients(text: string): number[] {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 2 || n > 16)) throw new InvalidArgumentError('expected cluster sizes from 2 to 16, e.g. 3 or 3,5,8');
  return list;
}

function parsePositive(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(v > 0) || v > 3600) throw new InvalidArgumentError('expected a number of seconds above 0 (at most 3600)');
  return v;
}

function parseCount(min: number): (text: string) => number {
  return (text) => {
    const v = Number(text);
    if (!/^\d+$/.test(text.trim()) || v < min || !Number.isSafeInteger(v)) throw new InvalidArgumentError(`expected a whole number >= ${min}`);
    return v;
  };
}

function parseVariants(text: string): Variant[] {
  if (text.trim() === 'none') return [];
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  const known = Object.keys(VARIANTS);
  for (const v of list) if (!known.includes(v)) throw new InvalidArgumentError(`unknown variant "${v}" (variants: ${known.join(', ')}, or none)`);
  return list as Variant[];
}

function parsePhases(text: string): Phase[] {
  if (text.trim() === 'all') return [...PHASES];
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of list) if (!(PHASES as readonly string[]).includes(p)) throw new InvalidArgumentError(`unknown phase "${p}" (phases: ${PHASES.join(', ')}, or all)`);
  if (list.length === 0) throw new InvalidArgumentError(`expected phases: ${PHASES.join(', ')}, or all`);
  return list as Phase[];
}

/** Adds the `bench` subcommand to the `client` program. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('benchmark real client processes on loopback: latency, lock throughput, batching, snapshot cost and memory beside the loopback round trip; exits 1 only if the end check (identical chains, conserved money) fails')
    .option('--clients <list>', 'cluster sizes to run, e.g. 3,5,8', parseClients, [3])
    .option('--duration <seconds>', 'measurement window of each phase', parsePositive, 5)
    .option('--outstanding <k>', 'transfers each client keeps in flight in the batched, snapshot and memory phases', parseCount(1), 2000)
    .option('--per-request <k>', 'transfers per control request in those phases (1: a request each, as contended-1 and uncontended always send)', parseCount(1), 100)
    .addOption(new Option('--phases <list>', `phases to run: ${PHASES.join(', ')} (comma-separated) or all`).argParser(parsePhases).default([...PHASES], 'all'))
    .option('--transfers <n>', 'memory phase: run batched load until this many transfers are committed, sampling RSS every second (0 = skip; 1000000 for the long run)', parseCount(0), 0)
    .option('--out <dir>', 'where the JSON result goes', path.join('bench', 'results'))
    .option('--profile <dir>', 'run the clients under node --cpu-prof, write their profiles to <dir>/n<N>/ (a compared setting\'s to <dir>/n<N>-<setting>/) and print where the time goes')
    .addOption(new Option('--compare <list>', `settings to measure beside the defaults, each on a cluster of its own: ${Object.keys(VARIANTS).join(', ')} (comma-separated), or none`).argParser(parseVariants).default([...DEFAULT_COMPARE], DEFAULT_COMPARE.join(',')))
    .action(async (opts: { clients: number[]; duration: number; outstanding: number; perRequest: number; phases: Phase[]; transfers: number; out: string; profile?: string; compare: Variant[] }) => {
      const command = `client bench ${process.argv.slice(3).join(' ')}`.trim();
      const { runBench } = await import('./index.js');
      const result = await runBench(
        { clients: opts.clients, durationS: opts.duration, outstanding: opts.outstanding, perRequest: opts.perRequest, phases: opts.phases, transfers: opts.transfers, out: opts.out, compare: opts.compare, ...(opts.profile ? { profile: opts.profile } : {}) },
        command,
      );
      process.exitCode = result.endCheckPassed ? 0 : 1;
    });
}
