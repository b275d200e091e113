import type { Cents } from './types.js';

/** $4.50 for 450; -$3.00 for -300. Used everywhere money is shown to a person. */
export function formatCents(cents: Cents): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const dollars = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const rest = String(abs % 100).padStart(2, '0');
  // Thousands separators by hand: toLocaleString costs more than the rest of a transfer's reply.
  return `${sign}$${dollars}.${rest}`;
}
