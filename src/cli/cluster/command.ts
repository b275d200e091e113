/**
 * `npm start` / `client cluster [N]` / `client cluster run FILE`: a local cluster of separate
 * client processes driven from this terminal, interactively, with a random workload, or by a
 * command file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readlineSync from 'readline-sync';
import { generateConfig } from '../../cluster/config.js';
import { KindedError } from '../../shared/errors.js';
import { loadOrExit } from '../config-file.js';
import { fail } from '../fail.js';
import { runAuto } from './auto.js';
import { clusterRepl } from './prompt.js';
import { runScript } from './script.js';
import { ClusterSession } from './session.js';

export interface ClusterCliOptions {
  config?: string;
  dataDir?: string;
  auto?: number;
  duration?: number;
  snapshotEvery?: number;
  delay?: string;
  transferTimeout?: number;
  seed: number;
  json?: boolean;
  size?: number;
}

/** A fresh temporary data root, removed by the returned function. */
export function tempDataRoot(): { root: string; remove: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'll-'));
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

function clusterSize(n: string | undefined): number {
  if (n === undefined) {
    if (!process.stdin.isTTY) return 3;
    n = readlineSync.question('How many clients? (2-16, Enter for 3): ') || '3';
  }
  const size = Number(n);
  if (!Number.isInteger(size) || size < 2 || size > 16) fail(`cluster size must be a whole number from 2 to 16, got "${n}"`);
  return size;
}

/** The config and data root a cluster command runs on: the given config, or a generated one. */
async function prepareCluster(n: string | undefined, o: ClusterCliOptions, fresh: boolean): Promise<{ configPath: string; dataRoot: string; cleanup: () => void }> {
  if (o.config) {
    loadOrExit(o.config);
    const temp = fresh && !o.dataDir ? tempDataRoot() : null;
    return { configPath: o.config, dataRoot: o.dataDir ?? temp?.root ?? 'data', cleanup: () => temp?.remove() };
  }
  const size = clusterSize(n);
  const temp = fresh && !o.dataDir ? tempDataRoot() : null;
  const dataRoot = o.dataDir ?? temp?.root ?? path.join('data', `cluster-${size}`);
  const configPath = path.join(dataRoot, 'config.json');
  await generateConfig(size, configPath, `cluster-${size}`);
  return { configPath, dataRoot, cleanup: () => temp?.remove() };
}

/** The flags every client of the cluster gets from the cluster's own. */
function clientArgs(o: ClusterCliOptions): string[] {
  return [
    ...(o.delay ? ['--delay', o.delay] : []),
    ...(o.snapshotEvery ? ['--snapshot-every', String(o.snapshotEvery)] : []),
    ...(o.transferTimeout ? ['--transfer-timeout', String(o.transferTimeout)] : []),
  ];
}

export async function runCluster(n: string | undefined, o: ClusterCliOptions, script: string | null): Promise<void> {
  const quiet = script !== null || o.auto !== undefined;
  const { configPath, dataRoot, cleanup } = await prepareCluster(n, o, quiet);
  const cluster = new ClusterSession({
    configPath,
    dataRoot,
    clientArgs: clientArgs(o),
    // In workload and script runs the clients' own lines would drown the transcript.
    echo: quiet ? null : (line) => process.stdout.write(`${line}\n`),
  });
  let code = 0;
  const stopAll = async (): Promise<void> => {
    await cluster.down();
    cleanup();
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(143)));
  try {
    process.stdout.write(`starting ${cluster.ids.length} clients (config ${configPath}, data in ${dataRoot})...\n`);
    await cluster.up();
    if (script !== null) {
      await runScript(cluster, script, (line) => process.stdout.write(`${line}\n`));
      process.stdout.write(`script ${script}: every line ran, every expect held\n`);
    } else if (o.auto !== undefined) {
      const summary = await runAuto(cluster, { rate: o.auto, durationS: o.duration ?? 10, seed: o.seed }, (line) => process.stdout.write(`${line}\n`));
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (!summary.conserved || !summary.chainsIdentical || summary.snapshotsVerified !== summary.snapshots) code = 1;
    } else {
      await clusterRepl(cluster, o.json === true);
    }
  } catch (e) {
    code = 1;
    process.stderr.write(`client cluster: ${e instanceof KindedError ? e.message : String(e)}\n`);
  }
  await stopAll();
  process.exit(code);
}
