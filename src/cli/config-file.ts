/** Which cluster config a command runs on, loaded and checked, or the process ends saying why. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClusterConfig, loadConfig } from '../daemon/config.js';
import { isDaemonError } from '../daemon/errors.js';
import { fail } from './fail.js';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built-in config; used when --config is not given and ./config/default.json does not exist. */
export const DEFAULT_CONFIG = path.join(PACKAGE_ROOT, 'config', 'default.json');

export function resolveConfigPath(given: string | undefined): string {
  if (given) return given;
  const local = path.join('config', 'default.json');
  return existsSync(local) ? local : DEFAULT_CONFIG;
}

export function loadOrExit(configPath: string): ClusterConfig {
  try {
    return loadConfig(configPath);
  } catch (e) {
    if (isDaemonError(e)) fail(e.message);
    throw e;
  }
}
