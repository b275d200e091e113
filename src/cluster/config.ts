/** A cluster config for clients on this machine: loopback, on ports the OS says are free. */
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Cents } from '../core/types.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface GeneratedConfig {
  /** Every client's opening balance (default $10.00). */
  readonly balanceCents?: Cents;
  readonly transferTimeoutMs?: number;
  readonly snapshotTimeoutMs?: number;
}

/** Writes a config for clients 1..n named `cluster`; returns the total money in it. */
export async function generateConfig(n: number, file: string, cluster: string, o: GeneratedConfig = {}): Promise<Cents> {
  const balanceCents = o.balanceCents ?? 1000;
  const clients = [];
  for (let id = 1; id <= n; id++) clients.push({ id, host: '127.0.0.1', port: await freePort(), balanceCents });
  const timeouts = {
    ...(o.transferTimeoutMs === undefined ? {} : { transferTimeoutMs: o.transferTimeoutMs }),
    ...(o.snapshotTimeoutMs === undefined ? {} : { snapshotTimeoutMs: o.snapshotTimeoutMs }),
  };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ cluster, clients, ...timeouts }, null, 2)}\n`);
  return balanceCents * n;
}
