import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SECRET_ENV, SECRET_FILE_ENV } from '../../src/cli/env.js';
import { SecretError, clusterSecret, readSecretFile } from '../../src/cli/secret.js';
import { parseConfig } from '../../src/daemon/config.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'llsecret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(text: string): string {
  const p = path.join(dir, `secret-${++files}`);
  writeFileSync(p, text);
  return p;
}

const clients = [{ id: 1, host: '127.0.0.1', port: 7101, balanceCents: 1000 }];
const plain = parseConfig(JSON.stringify({ cluster: 's', clients }), 'c.json');
const withSecret = parseConfig(JSON.stringify({ cluster: 's', clients, secret: 'the-config-secret-1234' }), 'c.json');
const GOOD = 'a-secret-of-24-characters';

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SecretError);
    return (e as Error).message;
  }
  throw new Error('no SecretError');
};

describe('readSecretFile: a mounted secret file', () => {
  it('is the file\'s text without the line break at its end', () => {
    expect(readSecretFile(file(GOOD), '--secret-file')).toBe(GOOD);
    expect(readSecretFile(file(`${GOOD}\n`), '--secret-file')).toBe(GOOD);
    expect(readSecretFile(file(`${GOOD}\r\n\n`), '--secret-file')).toBe(GOOD);
  });

  it('a missing file, a directory or an unreadable file is one line naming the file and the flag', () => {
    const missing = path.join(dir, 'nope');
    expect(refusal(() => readSecretFile(missing, '--secret-file'))).toBe(`cannot read the cluster secret from ${missing} (--secret-file): no such file`);
    expect(refusal(() => readSecretFile(dir, SECRET_FILE_ENV))).toBe(`cannot read the cluster secret from ${dir} (LAMPORT_LEDGER_SECRET_FILE): it is a directory`);
    if (process.getuid?.() !== 0) {
      const locked = file(GOOD);
      chmodSync(locked, 0o000);
      expect(refusal(() => readSecretFile(locked, '--secret-file'))).toBe(`cannot read the cluster secret from ${locked} (--secret-file): permission denied`);
    }
  });

  it('an empty, short, multi-line or binary secret is refused, saying which', () => {
    const empty = file('\n');
    expect(refusal(() => readSecretFile(empty, '--secret-file'))).toBe(`the cluster secret file ${empty} (--secret-file) is empty`);
    const short = file('replace-me\n');
    expect(refusal(() => readSecretFile(short, '--secret-file'))).toBe(
      `the cluster secret file ${short} (--secret-file) has 10 characters; a cluster secret needs at least 16 (the same on every client)`,
    );
    const lines = file(`${GOOD}\nsecond line\n`);
    expect(refusal(() => readSecretFile(lines, '--secret-file'))).toMatch(/holds more than one line/);
    const binary = file(`${GOOD}\u0001`);
    expect(refusal(() => readSecretFile(binary, '--secret-file'))).toMatch(/holds a control character/);
    const long = file('x'.repeat(1025));
    expect(refusal(() => readSecretFile(long, '--secret-file'))).toMatch(/has 1025 characters; a cluster secret has at most 1024/);
  });
});

describe('clusterSecret: --secret-file, else LAMPORT_LEDGER_SECRET_FILE, else LAMPORT_LEDGER_SECRET, else the config', () => {
  it('names the variables', () => {
    expect([SECRET_ENV, SECRET_FILE_ENV]).toEqual(['LAMPORT_LEDGER_SECRET', 'LAMPORT_LEDGER_SECRET_FILE']);
  });

  it('takes the first place that has one', () => {
    const f = file(GOOD);
    const other = file('another-secret-of-24-chars');
    expect(clusterSecret(withSecret, f, { [SECRET_FILE_ENV]: other, [SECRET_ENV]: 'x' })).toBe(GOOD);
    expect(clusterSecret(withSecret, undefined, { [SECRET_FILE_ENV]: other })).toBe('another-secret-of-24-chars');
    expect(clusterSecret(withSecret, undefined, { [SECRET_ENV]: 'from-the-environment' })).toBe('from-the-environment');
    expect(clusterSecret(withSecret, undefined, {})).toBe('the-config-secret-1234');
    expect(clusterSecret(plain, undefined, {})).toBeNull();
    expect(clusterSecret(plain, undefined, { [SECRET_ENV]: '', [SECRET_FILE_ENV]: '' })).toBeNull();
  });

  it('refuses both variables at once rather than guess', () => {
    expect(refusal(() => clusterSecret(plain, undefined, { [SECRET_ENV]: GOOD, [SECRET_FILE_ENV]: file(GOOD) }))).toBe(
      'both LAMPORT_LEDGER_SECRET and LAMPORT_LEDGER_SECRET_FILE are set; set one of them',
    );
  });

  it('holds the variable to the same rules as a file', () => {
    expect(refusal(() => clusterSecret(plain, undefined, { [SECRET_ENV]: 'short' }))).toBe(
      'LAMPORT_LEDGER_SECRET has 5 characters; a cluster secret needs at least 16 (the same on every client)',
    );
  });
});
