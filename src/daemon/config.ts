/**
 * The cluster config: which clients exist, where they listen, what they start with. Validated
 * up front so that a typo is a one-line error naming the file and the field, not a hang or a
 * silently different genesis later.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeGenesis } from '../core/ledger.js';
import { DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_BYTES_CEILING, REQUIRED_FRAME_BYTES, REQUIRED_FRAME_REASON } from '../core/limits.js';
import type { Block, Cents, NodeId } from '../core/types.js';
import { didYouMean } from '../base/suggest.js';
import { ConfigError } from './errors.js';

export interface ClientConfig {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
  readonly balanceCents: Cents;
}

export interface ClusterConfig {
  /** Names the cluster; part of the genesis, so clients of different clusters refuse each other. */
  readonly cluster: string;
  /** Sorted by id. */
  readonly clients: readonly ClientConfig[];
  readonly transferTimeoutMs: number;
  readonly snapshotTimeoutMs: number;
  readonly maxFrameBytes: number;
  /**
   * Shared by every client of the cluster; with it, every connection proves both ends know it.
   * Required to listen beyond loopback (protected mode) unless the client runs with --insecure.
   */
  readonly secret: string | null;
  /**
   * Where the clients' data dirs go unless a command line says otherwise: client n's is
   * `<dataDir>/client-<n>`, relative to the working directory. Two configs with different
   * genesis blocks must not share one, or the second finds the first's chain.
   */
  readonly dataDir: string;
}

export const CONFIG_DEFAULTS = {
  dataDir: 'data',
  transferTimeoutMs: 30_000,
  snapshotTimeoutMs: 10_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
} as const;

/** setTimeout treats anything above 2^31-1 ms as 1 ms, so longer timeouts would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const TOP_LEVEL_KEYS = ['cluster', 'clients', 'dataDir', 'transferTimeoutMs', 'snapshotTimeoutMs', 'maxFrameBytes', 'secret'] as const;
/** Shorter secrets are too easy to guess to protect anything. */
export const MIN_SECRET_LENGTH = 16;
export const MAX_SECRET_LENGTH = 1024;
const CLIENT_KEYS = ['id', 'host', 'port', 'balanceCents'] as const;

/** Reads and validates a config file. Throws ConfigError naming `path` and the field. */
export function loadConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const detail =
      code === 'ENOENT' ? 'config file not found' : code === 'EISDIR' ? 'is a directory, not a config file' : `cannot read: ${code ?? String(e)}`;
    throw new ConfigError(path, null, detail, { cause: e });
  }
  return parseConfig(text, path);
}

/** Validates config JSON text; `fileName` is only used in error messages. */
export function parseConfig(text: string, fileName: string): ClusterConfig {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // editors on Windows add a BOM
  if (body.trim() === '') throw new ConfigError(fileName, null, 'file is empty');
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (e) {
    throw syntaxError(body, fileName, e);
  }
  return validate(raw, new Checker(fileName));
}

/** Client `id`'s data dir when no command line names one: `<dataDir>/client-<id>`. */
export function clientDataDir(config: Pick<ClusterConfig, 'dataDir'>, id: NodeId): string {
  return path.join(config.dataDir, `client-${id}`);
}

export function findClient(config: ClusterConfig, id: NodeId): ClientConfig | undefined {
  return config.clients.find((c) => c.id === id);
}

export function nodeIds(config: ClusterConfig): NodeId[] {
  return config.clients.map((c) => c.id);
}

export function initialBalances(config: ClusterConfig): Map<NodeId, Cents> {
  return new Map(config.clients.map((c) => [c.id, c.balanceCents]));
}

/** The genesis block this config defines; its hash is what peers compare in the handshake. */
export function configGenesis(config: ClusterConfig): Block {
  return makeGenesis(initialBalances(config), config.cluster);
}

// ---------------------------------------------------------------------------------------------

/** Unknown fields listed after the first, at most; the rest are counted. */
const MORE_UNKNOWN_SHOWN = 5;

class Checker {
  constructor(readonly file: string) {}

  fail(field: string | null, detail: string): never {
    throw new ConfigError(this.file, field, detail);
  }

  /**
   * Rejects keys not in the known fields, at the top and in every client, suggesting the field
   * meant (typo protection): the first names the error, and the others are listed after it, so
   * that one run shows every field to fix.
   */
  knownKeys(raw: Record<string, unknown>): void {
    const unknown: { readonly field: string; readonly guesses: string[]; readonly known: readonly string[] }[] = [];
    const look = (obj: Record<string, unknown>, known: readonly string[], prefix: string): void => {
      for (const key of Object.keys(obj)) if (!known.includes(key)) unknown.push({ field: `${prefix}${key}`, guesses: fieldMeant(key, known), known });
    };
    look(raw, TOP_LEVEL_KEYS, '');
    const list = raw['clients'];
    if (Array.isArray(list)) list.forEach((entry: unknown, i) => isObject(entry) && look(entry, CLIENT_KEYS, `clients[${i}].`));
    const [first, ...rest] = unknown;
    if (first === undefined) return;
    const meant = (guesses: readonly string[]): string => guesses.map((g) => `"${g}"`).join(' or ');
    const detail = first.guesses.length === 0 ? `unknown field (expected one of: ${first.known.join(', ')})` : `unknown field — did you mean ${meant(first.guesses)}?`;
    const shown = rest.slice(0, MORE_UNKNOWN_SHOWN).map((u) => (u.guesses.length === 0 ? u.field : `${u.field} (did you mean ${meant(u.guesses)}?)`));
    if (rest.length > MORE_UNKNOWN_SHOWN) shown.push(`and ${rest.length - MORE_UNKNOWN_SHOWN} more`);
    this.fail(first.field, rest.length === 0 ? detail : `${detail}; also unknown: ${shown.join(', ')}`);
  }

  integer(obj: Record<string, unknown>, key: string, field: string, min: number, max: number, what: string): number {
    const v = obj[key];
    if (v === undefined) this.fail(field, `missing (must be ${what})`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(field, `must be ${what}, got ${show(v)}`);
    return v;
  }

  optionalInteger(obj: Record<string, unknown>, key: string, fallback: number, min: number, max: number, what: string): number {
    return obj[key] === undefined ? fallback : this.integer(obj, key, key, min, max, what);
  }

  string(obj: Record<string, unknown>, key: string, field: string, what: string, ok: (s: string) => boolean): string {
    const v = obj[key];
    if (v === undefined) this.fail(field, `missing (must be ${what})`);
    if (typeof v !== 'string' || !ok(v)) this.fail(field, `must be ${what}, got ${show(v)}`);
    return v;
  }
}

/** Words people write for a field under another name. */
const FIELD_SYNONYMS: Readonly<Record<string, string>> = {
  nodes: 'clients',
  peers: 'clients',
  members: 'clients',
  servers: 'clients',
  name: 'cluster',
  password: 'secret',
  psk: 'secret',
  key: 'secret',
  token: 'secret',
  address: 'host',
  ip: 'host',
  balance: 'balanceCents',
  amount: 'balanceCents',
  data: 'dataDir',
  datadirectory: 'dataDir',
  datapath: 'dataDir',
  datafolder: 'dataDir',
};

/** Lower case without separators: `transfer_timeout_ms` and `transferTimeoutMs` compare equal. */
const bare = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The field an unknown key most likely meant, or the two it may have meant: a typo first, then a
 * key in another case, a part of a field's name or a field's name with more to it
 * (`timeout`, `clusterName`), a shared start (`maxFrameSize`), and last a synonym (`nodes`).
 */
function fieldMeant(key: string, known: readonly string[]): string[] {
  const typo = didYouMean(key, known);
  if (typo !== null) return [typo];
  const k = bare(key);
  const same = known.find((f) => bare(f) === k);
  if (same !== undefined) return [same];
  const parts = known.filter((f) => k.length >= 4 && (bare(f).includes(k) || (bare(f).length >= 4 && k.includes(bare(f)))));
  if (parts.length > 0 && parts.length <= 2) return parts;
  const prefix = (f: string): number => {
    const b = bare(f);
    let i = 0;
    while (i < b.length && i < k.length && b[i] === k[i]) i++;
    return i;
  };
  const shared = known.filter((f) => prefix(f) >= 5).sort((a, b) => prefix(b) - prefix(a));
  if (shared.length > 0) return [shared[0]!];
  const synonym = FIELD_SYNONYMS[k];
  return synonym !== undefined && known.includes(synonym) ? [synonym] : [];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as it appeared in the JSON, short enough for one line. */
function show(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (isObject(v)) return 'an object';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

const printable = (s: string): boolean => !/[\u0000-\u001f\u007f]/.test(s);

function validate(raw: unknown, c: Checker): ClusterConfig {
  if (!isObject(raw)) return c.fail(null, `must be a JSON object with "cluster" and "clients", got ${show(raw)}`);
  c.knownKeys(raw);

  const cluster = c.string(raw, 'cluster', 'cluster', 'a non-empty name', (s) => s.trim() !== '' && s.length <= 100 && printable(s));

  const list = raw['clients'];
  if (list === undefined) c.fail('clients', 'missing (must be a non-empty array of clients)');
  if (!Array.isArray(list) || list.length === 0) c.fail('clients', `must be a non-empty array of clients, got ${show(list)}`);

  const clients: ClientConfig[] = [];
  const byId = new Map<number, number>();
  const byAddress = new Map<string, number>();
  let total = 0;
  list.forEach((entry: unknown, i) => {
    const at = `clients[${i}]`;
    if (!isObject(entry)) c.fail(at, `must be an object with id, host, port and balanceCents, got ${show(entry)}`);
    const id = c.integer(entry, 'id', `${at}.id`, 1, Number.MAX_SAFE_INTEGER, 'a positive integer');
    const seenId = byId.get(id);
    if (seenId !== undefined) c.fail(`${at}.id`, `duplicate id ${id} (also clients[${seenId}])`);
    byId.set(id, i);
    const host = c.string(entry, 'host', `${at}.host`, 'a non-empty host name or address', (s) => s !== '' && s.length <= 253 && !/\s/.test(s) && printable(s));
    const port = c.integer(entry, 'port', `${at}.port`, 1, 65535, 'an integer 1-65535');
    const address = `${host.toLowerCase()}:${port}`;
    const seenAddress = byAddress.get(address);
    if (seenAddress !== undefined) c.fail(`${at}.port`, `${host}:${port} is already used by clients[${seenAddress}]`);
    byAddress.set(address, i);
    const balanceCents = c.integer(entry, 'balanceCents', `${at}.balanceCents`, 0, Number.MAX_SAFE_INTEGER, 'a non-negative integer number of cents');
    total += balanceCents;
    if (total > Number.MAX_SAFE_INTEGER) c.fail(`${at}.balanceCents`, `all balances together exceed ${Number.MAX_SAFE_INTEGER} cents`);
    clients.push({ id, host, port, balanceCents });
  });
  clients.sort((a, b) => a.id - b.id);

  const ms = `an integer number of milliseconds 1-${MAX_TIMEOUT_MS}`;
  const secret =
    raw['secret'] === undefined
      ? null
      : c.string(raw, 'secret', 'secret', `a string of at least ${MIN_SECRET_LENGTH} characters`, (s) => s.length >= MIN_SECRET_LENGTH && s.length <= MAX_SECRET_LENGTH && printable(s));
  const dataDir =
    raw['dataDir'] === undefined
      ? CONFIG_DEFAULTS.dataDir
      : c.string(raw, 'dataDir', 'dataDir', 'a directory path, e.g. "data/example-5"', (s) => s.trim() !== '' && s.length <= 1024 && printable(s));
  return {
    cluster,
    clients,
    secret,
    dataDir,
    transferTimeoutMs: c.optionalInteger(raw, 'transferTimeoutMs', CONFIG_DEFAULTS.transferTimeoutMs, 1, MAX_TIMEOUT_MS, ms),
    snapshotTimeoutMs: c.optionalInteger(raw, 'snapshotTimeoutMs', CONFIG_DEFAULTS.snapshotTimeoutMs, 1, MAX_TIMEOUT_MS, ms),
    maxFrameBytes: frameBytes(c, raw),
  };
}

/** `maxFrameBytes` must carry the largest message the protocol sends, which limits.ts derives. */
function frameBytes(c: Checker, raw: Record<string, unknown>): number {
  const given = raw['maxFrameBytes'];
  if (typeof given === 'number' && Number.isSafeInteger(given) && given > 0 && given < REQUIRED_FRAME_BYTES) {
    c.fail('maxFrameBytes', `${given} is below what the protocol needs: ${REQUIRED_FRAME_BYTES} bytes (${REQUIRED_FRAME_REASON})`);
  }
  return c.optionalInteger(raw, 'maxFrameBytes', CONFIG_DEFAULTS.maxFrameBytes, REQUIRED_FRAME_BYTES, MAX_FRAME_BYTES_CEILING, `an integer ${REQUIRED_FRAME_BYTES}-${MAX_FRAME_BYTES_CEILING}`);
}

// ---------------------------------------------------------------------------------------------
// JSON syntax errors with a line and column. Node 20's JSON.parse gives a position for some errors
// and none for "Unexpected token" ones (the common // comment or single quote), so the position
// comes from a small scanner that only finds where the text stops being JSON.

function syntaxError(text: string, file: string, e: unknown): ConfigError {
  const message = e instanceof Error ? e.message : String(e);
  const what = message
    .replace(/, (?:\.\.\.)?".*" is not valid JSON$/s, '')
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/ \(line \d+ column \d+\)$/, '');
  const offset = jsonErrorOffset(text);
  if (offset === null) return new ConfigError(file, null, `invalid JSON: ${what}`, { cause: e });
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return new ConfigError(file, null, `invalid JSON at line ${line}, column ${column}: ${what}`, { cause: e });
}

class JsonStop {
  constructor(readonly offset: number) {}
}

/** Offset of the first character where `text` stops being valid JSON, or null if it is valid. */
export function jsonErrorOffset(text: string): number | null {
  let i = 0;
  const stop = (at: number): never => {
    throw new JsonStop(at);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++;
  };
  const literal = (word: string): void => {
    for (const ch of word) {
      if (text[i] !== ch) stop(i);
      i++;
    }
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) stop(i);
      const ch = text.charCodeAt(i);
      if (ch === 0x22) {
        i++;
        return;
      }
      if (ch < 0x20) stop(i);
      if (ch === 0x5c) {
        const esc = text[i + 1] ?? '';
        if (esc === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) stop(i);
          i += 6;
        } else if ('"\\/bfnrt'.includes(esc) && esc !== '') {
          i += 2;
        } else {
          stop(i);
        }
      } else {
        i++;
      }
    }
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') stop(i);
        string();
        ws();
        if (text[i] !== ':') stop(i);
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else stop(i);
      }
    } else if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else stop(i);
      }
    } else if (ch === '"') {
      string();
    } else if (ch === 't') {
      literal('true');
    } else if (ch === 'f') {
      literal('false');
    } else if (ch === 'n') {
      literal('null');
    } else {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) stop(i);
      i = NUMBER.lastIndex;
    }
  };
  try {
    value();
    ws();
    if (i < text.length) stop(i);
    return null;
  } catch (e) {
    // Anything else (say, a stack overflow on absurd nesting) just means no position to report.
    return e instanceof JsonStop ? e.offset : null;
  }
}
