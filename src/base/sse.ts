/**
 * Reading a stream of Server-Sent Events as it arrives, as far as the live view's own stream
 * needs: frames end at a blank line, and each carries one `data:` line and perhaps an `id:`.
 * Comment frames (`: ping`) carry no data and are skipped. Used wherever a program stands in for
 * the page's EventSource (the benchmark's watcher, tests).
 */

export interface SseFrame {
  readonly id: string | null;
  readonly data: string;
}

export class SseReader {
  private text = '';

  /** Takes the next chunk of the stream; returns the frames it completed, in order. */
  push(chunk: string): SseFrame[] {
    this.text += chunk;
    const blocks = this.text.split('\n\n');
    this.text = blocks.pop() ?? '';
    const frames: SseFrame[] = [];
    for (const b of blocks) {
      const data = /^data: (.*)$/m.exec(b)?.[1];
      if (data !== undefined) frames.push({ id: /^id: (.*)$/m.exec(b)?.[1] ?? null, data });
    }
    return frames;
  }
}
