/**
 * Money helpers for the CLI. Amounts are integer cents end to end; these only turn them into text
 * (parsing text into cents is `parseAmount` in parse.ts). All arithmetic is on integers.
 */
import { formatCents } from '../core/money.js';
import type { Cents } from '../core/types.js';

export { formatCents };

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

/** `+$4.50`, `-$4.50`, `$0.00`: a change of balance, always signed unless zero. */
export function formatSignedCents(cents: Cents): string {
  return cents > 0 ? `+${formatCents(cents)}` : formatCents(cents);
}

/** Amounts rendered with `formatCents` and right-aligned to a common width, for table columns. */
export function alignMoney(values: readonly Cents[]): string[] {
  const texts = values.map(formatCents);
  const width = texts.reduce((w, t) => Math.max(w, t.length), 0);
  return texts.map((t) => t.padStart(width));
}
