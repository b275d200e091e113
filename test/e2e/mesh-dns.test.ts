/**
 * Peers named by host name, as an orchestrator names them (`ledger-1.ledger`, `client2`): the
 * name is looked up again on every dial, so a peer replaced at a new address is found under its
 * old name; a name that does not resolve (yet) is said once, not on every redial.
 *
 * Real meshes on loopback; the resolver is the mesh's `lookup` option, a table the test edits
 * (as DNS changes when a pod or task is replaced), except in the last test, which asks the system.
 */
import net from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId } from '../../src/core/types.js';
import { Mesh, type MeshOptions } from '../../src/net/mesh.js';

const GENESIS = 'c3'.repeat(32);
const FAST_BACKOFF = { initialMs: 20, maxMs: 100 };
const meshes: Mesh[] = [];

afterEach(async () => {
  await Promise.all(meshes.splice(0).map((m) => m.close()));
});

/** A resolver over a table the test edits; every lookup is counted by name. */
class FakeDns {
  readonly table = new Map<string, string>();
  readonly asked = new Map<string, number>();
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    this.asked.set(hostname, (this.asked.get(hostname) ?? 0) + 1);
    const address = this.table.get(hostname);
    setImmediate(() => {
      if (address === undefined) {
        const err: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo' });
        callback(err, options.all ? [] : '', 4);
      } else if (options.all) callback(null, [{ address, family: 4 }]);
      else callback(null, address, 4);
    });
  };
  count(name: string): number {
    return this.asked.get(name) ?? 0;
  }
}

interface Node {
  mesh: Mesh;
  up: Set<NodeId>;
  problems: string[];
  records: () => { level: number; msg: string; kind?: string }[];
}

function node(self: NodeId, listen: { host: string; port: number }, peers: { id: NodeId; host: string; port: number }[], extra: Partial<MeshOptions> = {}): Node {
  const lines: string[] = [];
  const mesh = new Mesh({
    self, cluster: 'dns', genesis: GENESIS, peers, listen, nodes: new Set([self, ...peers.map((p) => p.id)]),
    logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }),
    backoff: FAST_BACKOFF, height: () => 0, incarnation: self, ...extra,
  });
  meshes.push(mesh);
  const n: Node = { mesh, up: new Set(), problems: [], records: () => lines.map((l) => JSON.parse(l)) };
  mesh.on('peerUp', (p) => n.up.add(p));
  mesh.on('peerDown', (p) => n.up.delete(p));
  mesh.on('problem', (line) => n.problems.push(line));
  return n;
}

async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, host, () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const WARN = 40;
const unresolvedWarnings = (n: Node): string[] => n.records().filter((r) => r.kind === 'UNRESOLVED' && r.level === WARN).map((r) => r.msg);

describe('peers named by host name', () => {
  it('says once that a name does not resolve, however many redials, finds the peer as soon as it does, and says it again only after it resolved in between', async () => {
    const dns = new FakeDns();
    const [p1, p2] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const a = node(1, { host: '127.0.0.1', port: p1 }, [{ id: 2, host: 'ledger-1.ledger', port: p2 }], { lookup: dns.lookup });
    await a.mesh.start();
    await waitFor('ten lookups of a name that does not resolve', () => dns.count('ledger-1.ledger') >= 10);
    expect(unresolvedWarnings(a)).toEqual([
      "client2's host name ledger-1.ledger does not resolve (ENOTFOUND); looking it up again at every redial",
    ]);
    expect(a.problems).toEqual(unresolvedWarnings(a));
    // Not said a second time as a connect error either.
    expect(a.records().filter((r) => r.level >= 30 && /not reachable/.test(r.msg))).toEqual([]);
    expect(a.mesh.status()[0]?.lastError).toMatch(/does not resolve/);

    // The peer starts and its name appears in DNS.
    const b = node(2, { host: '127.0.0.1', port: p2 }, [{ id: 1, host: '127.0.0.1', port: p1 }]);
    await b.mesh.start();
    dns.table.set('ledger-1.ledger', '127.0.0.1');
    await waitFor('the session once the name resolves', () => a.up.has(2) && b.up.has(1));
    expect(a.records().some((r) => r.msg === "client2's host name ledger-1.ledger resolves now, to 127.0.0.1")).toBe(true);

    // The peer goes away and its name with it (a task or pod removed): said again, once.
    await b.mesh.close();
    dns.table.delete('ledger-1.ledger');
    const before = dns.count('ledger-1.ledger');
    await waitFor('ten more lookups', () => dns.count('ledger-1.ledger') >= before + 10);
    expect(unresolvedWarnings(a)).toHaveLength(2);
    expect(a.problems).toHaveLength(2);
  });

  it('looks the name up again on every redial: a peer that comes back at a new address under the same name is found there', async () => {
    const dns = new FakeDns();
    const [p1, port2] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    dns.table.set('client2', '127.0.0.1');
    const a = node(1, { host: '127.0.0.1', port: p1 }, [{ id: 2, host: 'client2', port: port2 }], { lookup: dns.lookup });
    const b = node(2, { host: '127.0.0.1', port: port2 }, [{ id: 1, host: '127.0.0.1', port: p1 }]);
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await waitFor('the first session', () => a.up.has(2) && b.up.has(1));
    const lookupsBefore = dns.count('client2');
    expect(lookupsBefore).toBeGreaterThanOrEqual(1);

    // Replaced: the old process is gone, the new one listens at another address on the same port
    // number, and the name now points there. Nothing in client1's config changed.
    await b.mesh.close();
    await waitFor('client1 sees client2 down', () => !a.up.has(2));
    const b2 = node(2, { host: '127.0.0.2', port: port2 }, [{ id: 1, host: '127.0.0.1', port: p1 }]);
    await b2.mesh.start();
    dns.table.set('client2', '127.0.0.2');
    await waitFor('the session with the replacement', () => a.up.has(2) && b2.up.has(1));
    expect(dns.count('client2')).toBeGreaterThan(lookupsBefore);
    expect(a.records().some((r) => r.msg === "client2's host name client2 now resolves to 127.0.0.2 (was 127.0.0.1)")).toBe(true);
    // Connection refusals at the old address were network trouble, not a name problem.
    expect(unresolvedWarnings(a)).toEqual([]);
  });

  it('with the system resolver, a name that can never resolve (.invalid, RFC 6761) is said once', async () => {
    const p1 = await freePort('127.0.0.1');
    const a = node(1, { host: '127.0.0.1', port: p1 }, [{ id: 2, host: 'client2.invalid', port: 7100 }]);
    await a.mesh.start();
    await waitFor('several redials', () => a.records().filter((r) => r.kind === 'UNRESOLVED').length >= 5);
    expect(unresolvedWarnings(a)).toEqual([
      "client2's host name client2.invalid does not resolve (ENOTFOUND); looking it up again at every redial",
    ]);
  });
});
