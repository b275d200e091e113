/** The values command-line options take, checked as commander reads them. */
import { InvalidArgumentError } from 'commander';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function parseDelay(text: string): { minMs: number; maxMs: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError('expected milliseconds, e.g. 3000, or a range, e.g. 1000-3000');
  const minMs = Number(m[1]);
  const maxMs = m[2] === undefined ? minMs : Number(m[2]);
  if (maxMs < minMs) throw new InvalidArgumentError(`the range ${text} goes downwards`);
  if (maxMs > 600_000) throw new InvalidArgumentError('at most 600000 ms');
  return { minMs, maxMs };
}

export function parseRate(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(v > 0) || v > 1_000_000) throw new InvalidArgumentError('expected transfers per second, e.g. 50');
  return v;
}

export function parseWhole(text: string): number {
  if (!/^\d{1,9}$/.test(text.trim())) throw new InvalidArgumentError('expected a whole number');
  return Number(text);
}

export function parseSeconds(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(v > 0) || v > 86_400) throw new InvalidArgumentError('expected a number of seconds between 0 and 86400');
  return v;
}

export function parsePort(text: string): number {
  const v = Number(text);
  if (!/^\d{1,5}$/.test(text.trim()) || v > 65535) throw new InvalidArgumentError('expected a port from 0 (any free one) to 65535');
  return v;
}
