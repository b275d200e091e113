/**
 * A live view watching the benchmark's cluster, as a person with the page open would: a
 * `client web` process subscribed to every client, and a reader of its event stream standing in
 * for the browser (it reads every item as it comes and counts them). What it costs the clients
 * is what `client bench --compare watched` measures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './proc.js';

const CLIENT_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'client.js');

export interface WatchCounts {
  /** Events the page received. */
  readonly events: number;
  /** Events the clients' streams left out (the server fell behind them), summed over clients. */
  readonly droppedByClients: number;
  /** Events the server left out for the page (the page fell behind). */
  readonly droppedByServer: number;
  /** CPU seconds the page's server (`client web`) has used. */
  readonly serverCpuS: number;
}

export class Watcher {
  private events = 0;
  private readonly droppedAt = new Map<number, number>();
  private droppedByServer = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly request: http.ClientRequest,
  ) {}

  /** Starts `client web` on the cluster of `configPath` (data under `root`) and opens its stream. */
  static async start(configPath: string, root: string): Promise<Watcher> {
    const child = spawn(process.execPath, [CLIENT_BIN, 'web', '--port', '0', '--config', configPath, '--data-dir', root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`client web printed no address within 15 s: ${said}`)), 15_000);
      const read = (d: Buffer): void => {
        said += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(said);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) => reject(new Error(`client web exited (${code}): ${said}`)));
    });
    let watcher: Watcher | null = null;
    const request = http.get(`${url}events`, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        const blocks = text.split('\n\n');
        text = blocks.pop() ?? '';
        for (const b of blocks) watcher?.count(b);
      });
    });
    request.on('error', () => {
      // the server went away: the counts stand as they are
    });
    watcher = new Watcher(child, request);
    return watcher;
  }

  private count(block: string): void {
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (data === undefined) return;
    // Counted without parsing every event, as cheaply as a reader can.
    if (data.startsWith('{"t":"ev"')) {
      this.events++;
      return;
    }
    const item = JSON.parse(data) as { t: string; where?: string; node?: number; count?: number };
    if (item.t !== 'dropped') return;
    if (item.where === 'client') this.droppedAt.set(item.node ?? 0, item.count ?? 0);
    else this.droppedByServer = item.count ?? 0;
  }

  counts(): WatchCounts {
    const pid = this.child.pid;
    return {
      events: this.events,
      droppedByClients: [...this.droppedAt.values()].reduce((a, b) => a + b, 0),
      droppedByServer: this.droppedByServer,
      serverCpuS: (pid === undefined ? null : cpuSeconds(pid)) ?? 0,
    };
  }

  async stop(): Promise<void> {
    this.request.destroy();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}
