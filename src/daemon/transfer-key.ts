/**
 * Keys for transfers whose caller gave none: 96 random bits as 16 characters of base64url, which
 * are all within the key alphabet (A-Z a-z 0-9 - _). Made by whoever sends the transfer, so that
 * it can withdraw it or ask after it by key (`client ctl` does), or by the daemon.
 */
import { randomBytes } from 'node:crypto';

export const newTransferKey = (): string => randomBytes(12).toString('base64url');
