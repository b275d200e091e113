/**
 * End-to-end tests of Chandy-Lamport snapshots over the live connections (issue 4): real
 * `bin/client.js` processes, driven through `client ctl`, checked by their output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, clustersPerTest, sleep, waitFor } from './harness.js';

const { start: cluster } = clustersPerTest();

interface Msg {
  type: string;
  ts: number;
  block?: { height: number; hash: string; creator: number; txs: { from: number; to: number; amount: number }[] } | null;
}

interface SnapshotJson {
  ok: boolean;
  id: string;
  initiator: number;
  verified: boolean;
  verdict: string;
  markers: number;
  nodes: {
    node: number; height: number; head: string; clock: number; balances: Record<string, number>; pendingBlocks: unknown[]; queue: unknown[];
    channels: { peer: number; sent: number; received: number; sentDigest: string; receivedDigest: string; lastReceivedTs: number }[];
  }[];
  channels: { from: number; to: number; messages: Msg[] }[];
  verification: {
    ok: boolean; total: number; problems: string[]; head: { height: number; hash: string } | null;
    checks: { name: string; ok: boolean; detail: string; problems: string[] }[];
    behind: { node: number; height: number }[];
  };
}

/** The structural checks every completed snapshot of an n-client cluster must pass. */
function expectWellFormed(s: SnapshotJson, n: number, total: number): void {
  const what = JSON.stringify(s);
  expect(s.verified, what).toBe(true);
  expect(s.ok, what).toBe(true);
  expect(s.verification.ok, what).toBe(true);
  expect(s.verification.problems, what).toEqual([]);
  expect(s.verification.total).toBe(total);
  expect(s.verdict).toMatch(new RegExp(`^verified: 5 checks passed, \\$${(total / 100).toFixed(2)} conserved, replicas at #\\d+ [0-9a-f]{8}`));
  // The verdict names each check it made, and each passed.
  expect(s.verification.checks.map((c) => [c.name, c.ok])).toEqual([
    ['channels', true], ['sent before the cut', true], ['clocks and queues', true], ['money', true], ['one history', true],
  ]);
  // Every recorded channel carries its digests as 16 hex digits.
  for (const x of s.nodes) for (const r of x.channels) expect(`${r.sentDigest} ${r.receivedDigest}`, what).toMatch(/^[0-9a-f]{16} [0-9a-f]{16}$/);
  // Every channel holds exactly what its sender had sent and its receiver had not yet received.
  for (const ch of s.channels) {
    const sent = s.nodes.find((x) => x.node === ch.from)!.channels.find((c) => c.peer === ch.to)!.sent;
    const received = s.nodes.find((x) => x.node === ch.to)!.channels.find((c) => c.peer === ch.from)!.received;
    expect(ch.messages.length, what).toBe(sent - received);
  }
  expect(s.markers).toBe(n * (n - 1));
  expect(s.nodes.map((x) => x.node).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(s.channels).toHaveLength(n * (n - 1));
  const pairs = s.channels.map((ch) => `${ch.from}->${ch.to}`).sort();
  const want: string[] = [];
  for (let i = 1; i <= n; i++) for (let j = 1; j <= n; j++) if (i !== j) want.push(`${i}->${j}`);
  expect(pairs).toEqual(want.sort());
  for (const node of s.nodes) {
    expect(Object.values(node.balances).reduce((a, b) => a + b, 0), what).toBe(total);
  }
  // no marker is ever part of a channel's recorded state
  for (const ch of s.channels) for (const m of ch.messages) expect(m.type).not.toBe('MARKER');
}

describe('a quiet 3-client cluster (snapshotTimeoutMs 3000)', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await Cluster.start({ n: 3, snapshotTimeoutMs: 3000 });
    // one transfer, so that the replicas have something beyond genesis
    const r = await c.raw(1, 'transfer 2 1.50', 30_000);
    expect(r.ok, r.text).toBe(true);
    await waitFor('every replica at block #1', async () => {
      const s = await Promise.all(c.ids.map(async (id) => (await c.raw(id, 'status')).json.height));
      return s.every((h) => h === 1);
    });
  });
  afterAll(async () => {
    await c?.close();
  });

  it('snapshot --json verifies, with N(N-1) markers, N nodes and every channel; snapshots lists it; snapshot show prints it again', async () => {
    const r = await c.ctl(1, 'snapshot', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const s = r.json as SnapshotJson;
    expectWellFormed(s, 3, 3000);
    expect(s.initiator).toBe(1);
    expect(s.id).toMatch(/^1\.\d+$/);
    // quiet: nothing in flight, every replica at the same block
    for (const ch of s.channels) expect(ch.messages).toEqual([]);
    expect(s.nodes.map((x) => x.height)).toEqual([1, 1, 1]);
    for (const node of s.nodes) expect(node.balances).toEqual({ '1': 850, '2': 1150, '3': 1000 });

    const list = await c.ctl(1, 'snapshots', '--json');
    expect(list.code).toBe(0);
    expect(list.json.snapshots.map((x: { id: string }) => x.id)).toContain(s.id);
    expect(list.json.snapshots.find((x: { id: string }) => x.id === s.id)).toMatchObject({ verified: true, verdict: s.verdict });

    const again = await c.ctl(1, 'snapshot', 'show', s.id, '--json');
    expect(again.code).toBe(0);
    const { ok: _ok, ...record } = s;
    expect(again.json).toEqual(record);

    const text = await c.ctl(1, 'snapshot', 'show', s.id);
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^snapshot ${s.id.replace('.', '\\.')} \\(started by client1 at .*, 6 markers\\)$`));
    expect(lines.some((l) => /^client2 +\d+ +#1 [0-9a-f]{8} +\$8\.50 +\$11\.50 +\$10\.00/.test(l)), text.stdout).toBe(true);
    expect(text.stdout).toContain('in flight: nothing (every channel was empty)');
    expect(lines.some((l) => /^ {2}1 -> 2 +sent \d+ +received \d+ +in flight 0$/.test(l)), text.stdout).toBe(true);
    for (const check of ['channels', 'sent before the cut', 'clocks and queues', 'money', 'one history']) {
      expect(lines.some((l) => l.startsWith(`  [ok]     ${check}`)), `${check} in\n${text.stdout}`).toBe(true);
    }
    expect(lines.at(-1)).toMatch(/^verified: 5 checks passed, \$30\.00 conserved, replicas at #1 [0-9a-f]{8}$/);

    const unknown = await c.ctl(1, 'snapshot', 'show', '9.99');
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/no saved snapshot 9\.99/);
  });

  it('three snapshots started at once by three initiators all complete and verify', async () => {
    const rs = await Promise.all([1, 2, 3].map((id) => c.ctl(id, 'snapshot', '--json')));
    const ids = new Set<string>();
    rs.forEach((r, i) => {
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const s = r.json as SnapshotJson;
      expectWellFormed(s, 3, 3000);
      expect(s.initiator).toBe(i + 1);
      ids.add(s.id);
    });
    expect(ids.size).toBe(3);
    // each is saved by its initiator
    for (const [i, r] of rs.entries()) {
      const list = await c.raw(i + 1, 'snapshots');
      expect(list.json.snapshots.map((x: { id: string }) => x.id)).toContain(r.json.id);
    }
  });

  it('a snapshot started while a client is stopped fails at once, naming it, and the client keeps answering', async () => {
    await c.stop(3);
    await waitFor('client 1 to see client 3 down', async () => !(await c.raw(1, 'status')).json.peersUp.includes(3));
    const [r, text] = await Promise.all([c.ctl(1, 'snapshot', '--json'), c.ctl(1, 'snapshot')]);
    expect(r.code).toBe(1);
    expect(r.json, r.stdout).toMatchObject({ ok: false, missing: [3] });
    expect(r.json.error).toMatch(/^snapshot 1\.\d+ not started: client3 is not connected, and a snapshot needs a marker on every channel$/);
    expect(text.code).toBe(1);
    expect(text.stdout.trim()).toMatch(/^FAILED {2}snapshot 1\.\d+ not started: client3 is not connected/);

    // the REPL/daemon keeps answering
    const st = await c.ctl(1, 'status', '--json');
    expect(st.code).toBe(0);
    expect(st.json.snapshotsInProgress).toBe(0);
    expect(st.json.peersUp).toEqual([2]);
    const b = await c.ctl(2, 'balance', 'all', '--json');
    expect(b.code).toBe(0);

    // and once client 3 is back, snapshots complete again
    await c.start(3);
    await c.waitAllUp();
    const ok = await c.ctl(2, 'snapshot', '--json');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expectWellFormed(ok.json, 3, 3000);
  });
});

describe('a snapshot whose report never comes', () => {
  it('times out naming each missing client and why: connected but silent, and the initiator\'s own unclosed channel', async () => {
    const c = await cluster({ n: 3, snapshotTimeoutMs: 1000 });
    // client 3 is frozen: its connections stay open, its markers and report never come.
    c.child(3).kill('SIGSTOP');
    try {
      const r = await c.ctl(1, 'snapshot', '--json');
      expect(r.code).toBe(1);
      // Every client waits for client 3's marker; client 1 can tell which channel it waits on.
      expect(r.json.missing).toEqual([1, 2, 3]);
      expect(r.json.error).toMatch(/^snapshot 1\.\d+ timed out after 1 s: no report from client1 \(this client\) still waited for a marker from client3; client2 \(connected, but no report came\); client3 \(connected, but no report came\)$/);
    } finally {
      c.child(3).kill('SIGCONT');
    }
  });
});

describe('with --delay 200-400 on every client', () => {
  it('transfers flow from every client while snapshots run from every client: every snapshot verifies', async () => {
    const c = await cluster({ n: 3, allArgs: ['--delay', '200-400'] });
    let transfersDone = false;
    const transfers = Promise.all(
      c.ids.map(async (from) => {
        const results: boolean[] = [];
        for (let k = 0; k < 3; k++) {
          const to = c.ids.filter((x) => x !== from)[k % 2]!;
          const r = await c.raw(from, `transfer ${to} 0.${from}${k}`, 60_000);
          results.push(r.ok);
        }
        return results;
      }),
    ).finally(() => (transfersDone = true));
    const snapshots: Promise<SnapshotJson>[] = [];
    let startedDuringTransfers = 0;
    for (let round = 0; round < 2; round++) {
      for (const id of c.ids) {
        await sleep(250);
        if (!transfersDone) startedDuringTransfers++;
        snapshots.push(
          c.ctl(id, 'snapshot', '--json').then((r) => {
            expect(r.code, r.stdout + r.stderr).toBe(0);
            return r.json as SnapshotJson;
          }),
        );
      }
    }
    const taken = await Promise.all(snapshots);
    const ok = await transfers;
    expect(ok.flat().every(Boolean)).toBe(true);
    expect(startedDuringTransfers, 'snapshots started while transfers were still flowing').toBeGreaterThanOrEqual(3);
    for (const s of taken) expectWellFormed(s, 3, 3000);
    // with delays and traffic, some snapshot caught messages in flight
    const inFlight = taken.reduce((a, s) => a + s.channels.reduce((b, ch) => b + ch.messages.length, 0), 0);
    expect(inFlight).toBeGreaterThan(0);
    // the chains still agree at the end
    await waitFor('chains to converge', async () => {
      const st = await Promise.all(c.ids.map(async (id) => (await c.raw(id, 'status')).json));
      return st.every((x) => x.head === st[0].head && x.height === 9);
    });
  });
});

describe('a block certainly in flight', () => {
  it('the channel state holds the RELEASE with the block, the recorded replicas differ, and it still verifies', async () => {
    // client 1 holds each outgoing message 1.5 s; clients 2 and 3 send at once
    const c = await cluster({ n: 3, args: { 1: ['--delay', '1500'] } });
    // client 1's REQUEST reaches 2 and 3 after 1.5 s; their REPLYs come straight back; client 1
    // enters, appends block #1 and queues RELEASE(block #1) for another 1.5 s.
    const transfer = c.raw(1, 'transfer 2 3.00', 30_000);
    await waitFor('client 1 to append block #1', async () => (await c.raw(1, 'status')).json.height === 1, 15_000, 20);
    const appendedAt = Date.now();
    // Now client 2 starts a snapshot: it records height 0 and sends markers at once. Client 3
    // records height 0 on client 2's marker. Client 1 records height 1 and its markers queue
    // behind the held RELEASE on 1->2 and 1->3 (FIFO), so both channels record the RELEASE.
    // (Started over the control socket directly, not by spawning `client ctl`, so that the
    // start is well inside the 1.5 s window even on a loaded machine; the saved record is then
    // read back through a real `client ctl 2 snapshot show <id> --json`.)
    const started = c.raw(2, 'snapshot', 30_000);
    const startedWithin = Date.now() - appendedAt;
    const answer = await started;
    expect(answer.ok, answer.text).toBe(true);
    const shown = await c.ctl(2, 'snapshot', 'show', answer.json.id, '--json');
    expect(shown.code, shown.stdout + shown.stderr).toBe(0);
    const { ok: _ok, ...record } = answer.json;
    expect(shown.json).toEqual(record);
    const s = answer.json as SnapshotJson;
    expectWellFormed(s, 3, 3000);
    const head1 = (await c.raw(1, 'status')).json.head as string;

    const byNode = new Map(s.nodes.map((x) => [x.node, x]));
    expect(byNode.get(1)!.height, JSON.stringify(s.nodes)).toBe(1);
    expect(byNode.get(1)!.head).toBe(head1);
    expect(byNode.get(2)!.height, `snapshot started ${startedWithin} ms after the append`).toBe(0);
    expect(byNode.get(3)!.height).toBe(0);
    expect(byNode.get(2)!.balances).toEqual({ '1': 1000, '2': 1000, '3': 1000 });
    expect(byNode.get(1)!.balances).toEqual({ '1': 700, '2': 1300, '3': 1000 });

    for (const to of [2, 3]) {
      const ch = s.channels.find((x) => x.from === 1 && x.to === to)!;
      const releases = ch.messages.filter((m) => m.type === 'RELEASE' && m.block);
      expect(releases, `channel 1->${to}: ${JSON.stringify(ch.messages)}`).toHaveLength(1);
      expect(releases[0]!.block).toMatchObject({ height: 1, hash: head1, creator: 1, txs: [{ from: 1, to: 2, amount: 300 }] });
    }
    // delivering the recorded block brings every replica to client 1's head
    expect(s.verification.head).toEqual({ height: 1, hash: head1 });

    // the text form shows the block in flight on the channel
    const text = await c.ctl(2, 'snapshot', 'show', s.id);
    expect(text.stdout).toMatch(/^ {2}1 -> 2 {2}RELEASE ts=\d+ block #1 /m);
    expect(text.stdout).toMatch(/^ {2}1 -> 2 +sent \d+ +received \d+ +in flight 1$/m);
    expect(text.stdout.trimEnd().split('\n').at(-1)).toMatch(/^verified: 5 checks passed, \$30\.00 conserved, replicas at #1 [0-9a-f]{8}$/);

    const t = await transfer;
    expect(t.ok, t.text).toBe(true);
    expect(t.text).toMatch(/^SUCCESS {2}block #1 {2}client1 -> client2 {2}\$3\.00/);
    await waitFor('every replica at block #1', async () => {
      const st = await Promise.all(c.ids.map(async (id) => (await c.raw(id, 'status')).json));
      return st.every((x) => x.height === 1 && x.head === head1);
    });
  });
});
