import { makeGenesis } from '../../src/core/ledger.js';
import type { Block } from '../../src/core/types.js';

/** The genesis of clients 1, 2 and 3 with $10.00 each, in a cluster named `cluster`. */
export const threeClientGenesis = (cluster: string): Block =>
  makeGenesis(
    new Map([
      [1, 1000],
      [2, 1000],
      [3, 1000],
    ]),
    cluster,
  );
