import { describe, expect, it } from 'vitest';
import { CONFIG_ENV, DATA_DIR_ENV, type PathOptions, withEnvDefaults } from '../../src/cli/env.js';

/** Options as commander hands them over: the path options among others. */
type CliOptions = PathOptions & Record<string, unknown>;

describe('withEnvDefaults: LAMPORT_LEDGER_CONFIG and LAMPORT_LEDGER_DATA_DIR as defaults of --config and --data-dir', () => {
  const env = { [CONFIG_ENV]: '/app/config/docker.json', [DATA_DIR_ENV]: '/data' };

  it('names the variables the image sets', () => {
    expect(CONFIG_ENV).toBe('LAMPORT_LEDGER_CONFIG');
    expect(DATA_DIR_ENV).toBe('LAMPORT_LEDGER_DATA_DIR');
  });

  it('fills in both when the command line gives neither', () => {
    const given: CliOptions = { json: true, timeout: 60 };
    expect(withEnvDefaults(given, env)).toEqual({ json: true, timeout: 60, config: '/app/config/docker.json', dataDir: '/data' });
  });

  it('a flag wins over its variable, each on its own', () => {
    expect(withEnvDefaults({ config: 'mine.json' }, env)).toMatchObject({ config: 'mine.json', dataDir: '/data' });
    expect(withEnvDefaults({ dataDir: 'here' }, env)).toMatchObject({ config: '/app/config/docker.json', dataDir: 'here' });
    expect(withEnvDefaults({ config: 'mine.json', dataDir: 'here' }, env)).toMatchObject({ config: 'mine.json', dataDir: 'here' });
  });

  it('an unset or empty variable leaves the option unset, so the built-in default applies', () => {
    expect(withEnvDefaults({}, {})).toEqual({ config: undefined, dataDir: undefined });
    expect(withEnvDefaults({}, { [CONFIG_ENV]: '', [DATA_DIR_ENV]: '' })).toEqual({ config: undefined, dataDir: undefined });
  });

  it('does not change the options it was given', () => {
    const given: CliOptions = { logLevel: 'info' };
    withEnvDefaults(given, env);
    expect(given).toEqual({ logLevel: 'info' });
  });

  it('reads process.env when no environment is passed', () => {
    const saved = { config: process.env[CONFIG_ENV], dataDir: process.env[DATA_DIR_ENV] };
    try {
      process.env[CONFIG_ENV] = 'from-process.json';
      delete process.env[DATA_DIR_ENV];
      expect(withEnvDefaults({})).toEqual({ config: 'from-process.json', dataDir: undefined });
    } finally {
      for (const [name, value] of [[CONFIG_ENV, saved.config], [DATA_DIR_ENV, saved.dataDir]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
