import { describe, expect, it } from 'vitest';
import { ID_ENV } from '../../src/cli/env.js';
import { IdentityError, clientIdFrom, idFromHostname, parseClientNumber } from '../../src/cli/identity.js';
import { parseConfig } from '../../src/daemon/config.js';

const config = parseConfig(JSON.stringify({
  cluster: 'k8s',
  clients: [1, 2, 3].map((id) => ({ id, host: `ledger-${id - 1}.ledger`, port: 7100, balanceCents: 1000 })),
}), 'cluster.json');

const from = (s: Parameters<typeof clientIdFrom>[0]): number | null => clientIdFrom({ env: {}, ...s }, config, 'cluster.json');
const refusal = (s: Parameters<typeof clientIdFrom>[0]): string => {
  try {
    from(s);
  } catch (e) {
    expect(e).toBeInstanceOf(IdentityError);
    return (e as Error).message;
  }
  throw new Error('no IdentityError');
};

describe('the client number from the host name: a StatefulSet pod <name>-<ordinal> is client ordinal + 1', () => {
  it('ledger-0 is client 1, ledger-2 is client 3, whatever the name before the ordinal', () => {
    expect(idFromHostname('ledger-0')).toBe(1);
    expect(idFromHostname('ledger-2')).toBe(3);
    expect(idFromHostname('my-bank-ledger-11')).toBe(12);
  });

  it('reads the first label of a fully qualified name', () => {
    expect(idFromHostname('ledger-1.ledger.bank.svc.cluster.local')).toBe(2);
  });

  it('refuses a name without an ordinal, saying how pods are named', () => {
    for (const name of ['ledger', 'client1', 'ledger-', '-3', 'ledger-01', 'ledger-x']) {
      expect(() => idFromHostname(name), name).toThrow(IdentityError);
    }
    expect(() => idFromHostname('web')).toThrow(
      '--id-from-hostname: this host is named "web", which does not end in an ordinal; a StatefulSet names its pods <name>-0, <name>-1, ... and <name>-0 is client 1',
    );
  });
});

describe('clientIdFrom: the command line, else the host name, else LAMPORT_LEDGER_ID, else nobody says (null)', () => {
  it('takes the number given, as 2 or client2', () => {
    expect(from({ given: '2' })).toBe(2);
    expect(from({ given: 'client3' })).toBe(3);
  });

  it('takes the host name only with --id-from-hostname', () => {
    expect(from({ fromHostname: true, hostname: () => 'ledger-2' })).toBe(3);
    expect(from({ hostname: () => 'ledger-2' })).toBeNull();
  });

  it('takes LAMPORT_LEDGER_ID when the command line says nothing, and nothing when it is unset or empty', () => {
    expect(ID_ENV).toBe('LAMPORT_LEDGER_ID');
    expect(from({ env: { [ID_ENV]: '2' } })).toBe(2);
    expect(from({ env: { [ID_ENV]: 'client1' } })).toBe(1);
    expect(from({ env: {} })).toBeNull();
    expect(from({ env: { [ID_ENV]: '' } })).toBeNull();
  });

  it('the command line wins over LAMPORT_LEDGER_ID', () => {
    expect(from({ given: '1', env: { [ID_ENV]: '3' } })).toBe(1);
    expect(from({ fromHostname: true, hostname: () => 'ledger-1', env: { [ID_ENV]: '3' } })).toBe(2);
  });

  it('refuses a number and --id-from-hostname together', () => {
    expect(refusal({ given: '1', fromHostname: true, hostname: () => 'ledger-0' })).toBe('give a client number or --id-from-hostname, not both (got "1" and --id-from-hostname)');
  });

  it('names where a number outside the config came from', () => {
    expect(refusal({ given: '4' })).toBe('unknown client "4": cluster.json defines clients 1, 2, 3');
    expect(refusal({ fromHostname: true, hostname: () => 'ledger-3' })).toBe(
      '--id-from-hostname: this host is "ledger-3", which makes it client 4 (ordinal 3, plus one), but cluster.json defines clients 1, 2, 3',
    );
    expect(refusal({ env: { [ID_ENV]: '9' } })).toBe('LAMPORT_LEDGER_ID=9: unknown client 9: cluster.json defines clients 1, 2, 3');
    expect(refusal({ env: { [ID_ENV]: 'two' } })).toBe('LAMPORT_LEDGER_ID must be a client number such as 2 (or client2), got "two"');
  });

  it('parseClientNumber reads 2 and client2 and nothing else', () => {
    expect(parseClientNumber(' 2 ')).toBe(2);
    expect(parseClientNumber('client12')).toBe(12);
    expect(parseClientNumber('c2')).toBeNaN();
    expect(parseClientNumber('')).toBeNaN();
  });
});
