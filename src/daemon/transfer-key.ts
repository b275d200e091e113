/**
 * Keys for transfers whose caller gave none: 96 random bits as 16 characters of base64url, which
 * are all within the key alphabet (A-Z a-z 0-9 - _). Made by whoever sends the transfer, so that
 * it can withdraw it or ask after it by key (`client ctl` does), or by the daemon.
 */
import { randomFillSync } from 'node:crypto';

const KEY_BYTES = 12;
/** Random bytes drawn at a time: one call to the generator per 512 keys, not one per transfer. */
const pool = Buffer.alloc(KEY_BYTES * 512);
let used = pool.length;

export function newTransferKey(): string {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += KEY_BYTES;
  return pool.toString('base64url', used - KEY_BYTES, used);
}
