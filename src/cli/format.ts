/** Cents to the text a command line takes (parsing it back is `parseAmount` in parse.ts). */
import type { Cents } from '../core/types.js';

/**
 * `450` -> `"4.50"`: plain decimal without `$` or thousands separators, the form `parseAmount`
 * reads back exactly (for scripts, command files and echoing a command).
 */
export function centsToInput(cents: Cents): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not an integer number of cents: ${cents}`);
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
