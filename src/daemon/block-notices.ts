/**
 * Notices of blocks from peers, rate-limited: under load a notice per block would flood whoever
 * shows them, so at most a few a second are told, and the rest summed up once a second.
 */
import type { Notice } from './api.js';

const BLOCK_NOTICES_PER_SECOND = 5;

export class BlockNotices {
  private shown = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly tell: (notice: Notice) => void,
    /** The chain's height now, for the summary. */
    private readonly height: () => number,
  ) {}

  offer(notice: Notice): void {
    if (this.shown < BLOCK_NOTICES_PER_SECOND) {
      this.shown++;
      this.tell(notice);
    } else {
      this.suppressed++;
    }
    this.timer ??= setTimeout(() => {
      const suppressed = this.suppressed;
      this.shown = 0;
      this.suppressed = 0;
      this.timer = null;
      if (suppressed > 0) this.tell({ type: 'blocksFromPeers', count: suppressed, height: this.height() });
    }, 1000);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
