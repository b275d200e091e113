import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { REQUIRED_FRAME_BYTES } from '../../src/core/limits.js';
import { clientDataDir, configGenesis, CONFIG_DEFAULTS, findClient, initialBalances, jsonErrorOffset, loadConfig, nodeIds, parseConfig } from '../../src/daemon/config.js';
import { ConfigError, DaemonErrorKind, isDaemonError } from '../../src/daemon/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FILE = 'config/test.json';

const client = (id: number, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  host: '127.0.0.1',
  port,
  balanceCents: 1000,
  ...extra,
});

const valid = (): Record<string, unknown> => ({ cluster: 'local', clients: [client(1, 7101), client(2, 7102), client(3, 7103)] });

/** The ConfigError that parsing `value` (or raw text) throws. */
function configError(value: unknown): ConfigError {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  try {
    parseConfig(text, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    if (!(e instanceof ConfigError)) throw e;
    expect(e.kind).toBe(DaemonErrorKind.Config);
    expect(e.file).toBe(FILE);
    expect(e.message.startsWith(`${FILE}: `)).toBe(true);
    expect(e.message).not.toContain('\n');
    return e;
  }
  throw new Error('expected a ConfigError');
}

function withClients(...clients: unknown[]): Record<string, unknown> {
  return { ...valid(), clients };
}

describe('the shipped configs', () => {
  it('default.json is the three-client local cluster with the defaults', () => {
    const config = loadConfig(path.join(root, 'config/default.json'));
    expect(config).toEqual({
      cluster: 'local',
      clients: [
        { id: 1, host: '127.0.0.1', port: 7101, balanceCents: 1000 },
        { id: 2, host: '127.0.0.1', port: 7102, balanceCents: 1000 },
        { id: 3, host: '127.0.0.1', port: 7103, balanceCents: 1000 },
      ],
      transferTimeoutMs: 30000,
      snapshotTimeoutMs: 10000,
      maxFrameBytes: 16777216,
      secret: null,
      dataDir: 'data',
    });
  });

  it('keep their data apart: each local config has data dirs of its own, the default\'s in data/client-<n>', () => {
    const local = fs.readdirSync(path.join(root, 'config')).filter((f) => f.endsWith('.json') && f !== 'docker.json');
    const roots = local.map((f) => loadConfig(path.join(root, 'config', f)).dataDir);
    expect(new Set(roots).size).toBe(local.length);
    expect(clientDataDir(loadConfig(path.join(root, 'config/default.json')), 2)).toBe(path.join('data', 'client-2'));
    expect(clientDataDir(loadConfig(path.join(root, 'config/example-5.json')), 2)).toBe(path.join('data', 'example-5', 'client-2'));
  });

  it('a secret shorter than 16 characters is refused, naming the field', () => {
    expect(() => parseConfig(JSON.stringify({ cluster: 'c', clients: [{ id: 1, host: 'h', port: 1, balanceCents: 0 }], secret: 'short' }), 'x.json')).toThrow(/x\.json: secret: /);
    expect(parseConfig(JSON.stringify({ cluster: 'c', clients: [{ id: 1, host: 'h', port: 1, balanceCents: 0 }], secret: 'long-enough-secret' }), 'x.json').secret).toBe('long-enough-secret');
  });

  it('example-5.json has five clients on ports 7201-7205', () => {
    const config = loadConfig(path.join(root, 'config/example-5.json'));
    expect(nodeIds(config)).toEqual([1, 2, 3, 4, 5]);
    expect(config.clients.map((c) => c.port)).toEqual([7201, 7202, 7203, 7204, 7205]);
  });


  it('every config/*.json in the repository is valid', () => {
    const files = fs.readdirSync(path.join(root, 'config')).filter((f) => f.endsWith('.json'));
    expect(files).toContain('default.json');
    for (const f of files) expect(() => loadConfig(path.join(root, 'config', f))).not.toThrow();
  });
});

describe('parseConfig', () => {
  it('fills in the optional timeouts and frame size', () => {
    const config = parseConfig(JSON.stringify(valid()), FILE);
    expect(config.transferTimeoutMs).toBe(CONFIG_DEFAULTS.transferTimeoutMs);
    expect(config.snapshotTimeoutMs).toBe(CONFIG_DEFAULTS.snapshotTimeoutMs);
    expect(config.maxFrameBytes).toBe(CONFIG_DEFAULTS.maxFrameBytes);
  });

  it('sorts clients by id and derives balances and a genesis from them', () => {
    const config = parseConfig(JSON.stringify(withClients(client(3, 7103), client(1, 7101, { balanceCents: 5 }), client(2, 7102))), FILE);
    expect(nodeIds(config)).toEqual([1, 2, 3]);
    expect(findClient(config, 1)?.balanceCents).toBe(5);
    expect(findClient(config, 4)).toBeUndefined();
    expect([...initialBalances(config)]).toEqual([
      [1, 5],
      [2, 1000],
      [3, 1000],
    ]);
    expect(configGenesis(config).height).toBe(0);
  });

  it('gives different clusters different genesis hashes', () => {
    const a = parseConfig(JSON.stringify(valid()), FILE);
    const b = parseConfig(JSON.stringify({ ...valid(), cluster: 'other' }), FILE);
    expect(configGenesis(a).hash).toBe(configGenesis(parseConfig(JSON.stringify(valid()), FILE)).hash);
    expect(configGenesis(a).hash).not.toBe(configGenesis(b).hash);
  });

  it('accepts a UTF-8 byte order mark', () => {
    expect(parseConfig(`\uFEFF${JSON.stringify(valid())}`, FILE).cluster).toBe('local');
  });

  describe('JSON syntax', () => {
    it('reports the line and column of a trailing comma', () => {
      const e = configError('{\n  "cluster": "local",\n}');
      expect(e.field).toBeNull();
      expect(e.message).toMatch(/^config\/test\.json: invalid JSON at line 3, column 1: /);
    });

    it('reports the line and column of a // comment (no position from JSON.parse on Node 20)', () => {
      const e = configError('{\n  "cluster": "local", // mine\n  "clients": []\n}');
      expect(e.message).toMatch(/invalid JSON at line 2, column 23: /);
    });

    it('reports single quotes and truncated files', () => {
      expect(configError("{'cluster': 'x'}").message).toMatch(/line 1, column 2/);
      expect(configError('{"cluster": "local", "clients": [').message).toMatch(/line 1, column 34/);
    });

    it('says an empty file is empty', () => {
      expect(configError('  \n').message).toBe(`${FILE}: file is empty`);
    });

    it('finds no error in valid JSON', () => {
      expect(jsonErrorOffset('{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]}')).toBeNull();
      expect(jsonErrorOffset('[01]')).toBe(2);
    });
  });

  it.each<[string, unknown, string, RegExp]>([
    ['a non-object', [1, 2], '', /must be a JSON object/],
    ['an unknown top-level key, with a suggestion', { ...valid(), clinets: [] }, 'clinets', /unknown field — did you mean "clients"\?/],
    ['an unknown top-level key', { ...valid(), colour: 'red' }, 'colour', /unknown field \(expected one of: cluster, clients/],
    ['a top-level key that is part of a field', { ...valid(), timeout: 5000 }, 'timeout', /unknown field — did you mean "transferTimeoutMs" or "snapshotTimeoutMs"\?$/],
    ['a top-level key with another unit', { ...valid(), maxFrameSize: 1 }, 'maxFrameSize', /unknown field — did you mean "maxFrameBytes"\?$/],
    ['a top-level key with more to it', { ...valid(), clusterName: 'x' }, 'clusterName', /unknown field — did you mean "cluster"\?$/],
    ['a top-level key in snake case', { ...valid(), transfer_timeout_ms: 5000 }, 'transfer_timeout_ms', /unknown field — did you mean "transferTimeoutMs"\?$/],
    ['a top-level key under another name', { ...valid(), nodes: [] }, 'nodes', /unknown field — did you mean "clients"\?$/],
    ['a top-level key for the data dirs', { ...valid(), dataDirectory: 'x' }, 'dataDirectory', /unknown field — did you mean "dataDir"\?$/],
    ['a top-level key for the secret', { ...valid(), password: 'x' }, 'password', /unknown field — did you mean "secret"\?$/],
    ['a client key under another name', withClients(client(1, 7101, { address: 'h' })), 'clients[0].address', /unknown field — did you mean "host"\?$/],
    ['an empty dataDir', { ...valid(), dataDir: '' }, 'dataDir', /must be a directory path, e.g. "data\/example-5", got ""$/],
    ['a missing cluster', { clients: valid()['clients'] }, 'cluster', /missing/],
    ['an empty cluster', { ...valid(), cluster: ' ' }, 'cluster', /must be a non-empty name, got " "/],
    ['a non-string cluster', { ...valid(), cluster: 7 }, 'cluster', /got 7/],
    ['missing clients', { cluster: 'x' }, 'clients', /missing \(must be a non-empty array/],
    ['empty clients', withClients(), 'clients', /must be a non-empty array of clients, got an array/],
    ['clients as an object', { ...valid(), clients: { 1: {} } }, 'clients', /got an object/],
    ['a client that is not an object', withClients(client(1, 7101), 'two'), 'clients[1]', /must be an object.*got "two"/],
    ['an unknown client key', withClients(client(1, 7101, { balance: 5 })), 'clients[0].balance', /did you mean "balanceCents"\?/],
    ['a missing id', withClients({ host: 'h', port: 1, balanceCents: 0 }), 'clients[0].id', /missing \(must be a positive integer\)/],
    ['a zero id', withClients(client(0, 7101)), 'clients[0].id', /must be a positive integer, got 0/],
    ['a fractional id', withClients(client(1.5, 7101)), 'clients[0].id', /got 1\.5/],
    ['a string id', withClients(client(1, 7101), { ...client(2, 7102), id: '2' }), 'clients[1].id', /got "2"/],
    ['a duplicate id', withClients(client(1, 7101), client(1, 7102)), 'clients[1].id', /duplicate id 1 \(also clients\[0\]\)/],
    ['an empty host', withClients(client(1, 7101, { host: '' })), 'clients[0].host', /must be a non-empty host/],
    ['a host with spaces', withClients(client(1, 7101, { host: 'my host' })), 'clients[0].host', /got "my host"/],
    ['a missing port', withClients({ id: 1, host: 'h', balanceCents: 0 }), 'clients[0].port', /missing \(must be an integer 1-65535\)/],
    ['a string port', withClients(client(1, 7101), client(2, 7102, { port: 'abc' })), 'clients[1].port', /must be an integer 1-65535, got "abc"$/],
    ['port 0', withClients(client(1, 0)), 'clients[0].port', /got 0/],
    ['port 65536', withClients(client(1, 65536)), 'clients[0].port', /got 65536/],
    ['a port used twice on one host', withClients(client(1, 7101), client(2, 7101)), 'clients[1].port', /127\.0\.0\.1:7101 is already used by clients\[0\]/],
    ['a negative balance', withClients(client(1, 7101, { balanceCents: -1 })), 'clients[0].balanceCents', /non-negative integer number of cents, got -1/],
    ['a fractional balance', withClients(client(1, 7101, { balanceCents: 10.5 })), 'clients[0].balanceCents', /got 10\.5/],
    ['an unsafe balance', withClients(client(1, 7101, { balanceCents: 2 ** 53 })), 'clients[0].balanceCents', /got 9007199254740992/],
    [
      'balances whose total is unsafe',
      withClients(client(1, 7101, { balanceCents: Number.MAX_SAFE_INTEGER }), client(2, 7102, { balanceCents: 1 })),
      'clients[1].balanceCents',
      /all balances together exceed/,
    ],
    ['a zero timeout', { ...valid(), transferTimeoutMs: 0 }, 'transferTimeoutMs', /integer number of milliseconds/],
    ['a timeout setTimeout cannot hold', { ...valid(), snapshotTimeoutMs: 2 ** 31 }, 'snapshotTimeoutMs', /got 2147483648/],
    ['a string timeout', { ...valid(), snapshotTimeoutMs: '10s' }, 'snapshotTimeoutMs', /got "10s"/],
    ['a frame limit below what the protocol needs', { ...valid(), maxFrameBytes: 65536 }, 'maxFrameBytes', new RegExp(`65536 is below what the protocol needs: ${REQUIRED_FRAME_BYTES} bytes \\(a RELEASE carrying a full block of 1000 transfers\\)$`)],
    ['a frame limit above the ceiling', { ...valid(), maxFrameBytes: 2 ** 32 }, 'maxFrameBytes', /must be an integer \d+-268435456, got 4294967296/],
    ['a frame limit that is not a number', { ...valid(), maxFrameBytes: '16MiB' }, 'maxFrameBytes', /must be an integer \d+-268435456, got "16MiB"/],
  ])('rejects %s, naming the field', (_name, value, field, message) => {
    const e = configError(value);
    expect(e.field).toBe(field === '' ? null : field);
    if (field !== '') expect(e.message.startsWith(`${FILE}: ${field}: `)).toBe(true);
    expect(e.message).toMatch(message);
  });

  it('names every unknown field at once, at the top and in the clients: the first as the error, the others after it', () => {
    const e = configError({ ...valid(), colour: 'red', timeout: 5000, clients: [client(1, 7101, { balance: 5 }), client(2, 7102, { address: 'h' })] });
    expect(e.field).toBe('colour');
    expect(e.message).toBe(
      `${FILE}: colour: unknown field (expected one of: cluster, clients, dataDir, transferTimeoutMs, snapshotTimeoutMs, maxFrameBytes, secret); also unknown: timeout (did you mean "transferTimeoutMs" or "snapshotTimeoutMs"?), ` +
        'clients[0].balance (did you mean "balanceCents"?), clients[1].address (did you mean "host"?)',
    );
    const many = configError({ ...valid(), a1: 1, a2: 1, a3: 1, a4: 1, a5: 1, a6: 1, a7: 1, a8: 1 });
    expect(many.message).toMatch(/: a1: unknown field \(expected one of: .*\); also unknown: a2, a3, a4, a5, a6, and 2 more$/);
  });

  it('accepts the same port on different hosts and zero balances', () => {
    const config = parseConfig(
      JSON.stringify(withClients(client(1, 7000, { host: 'a', balanceCents: 0 }), client(2, 7000, { host: 'b' }))),
      FILE,
    );
    expect(config.clients).toHaveLength(2);
  });

  it('matches the message format users see', () => {
    const e = configError(withClients(client(1, 7101), client(2, 7102, { port: 'abc' })));
    expect(e.message).toBe('config/test.json: clients[1].port: must be an integer 1-65535, got "abc"');
  });
});

describe('loadConfig', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('names the file when it does not exist or is a directory', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
    const missing = path.join(dir, 'nope.json');
    expect(() => loadConfig(missing)).toThrow(`${missing}: config file not found`);
    expect(() => loadConfig(dir ?? '')).toThrow(/is a directory/);
  });

  it('names the file it read in validation errors', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ ...valid(), cluster: '' }));
    try {
      loadConfig(file);
      expect.unreachable();
    } catch (e) {
      expect(isDaemonError(e, DaemonErrorKind.Config)).toBe(true);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).message).toBe(`${file}: cluster: must be a non-empty name, got ""`);
    }
  });
});
