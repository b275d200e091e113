/**
 * The baseline's far end: a separate process that answers every framed REQUEST with a framed
 * REPLY, using the same framing and codec as the peer mesh (4-byte length + msgpackr, validated
 * on decode). Started by the benchmark as `node dist/bench/echo-server.js`; prints `port <n>` once
 * listening; exits when its stdin closes or on SIGTERM.
 */
import net from 'node:net';
import { decodeMessage, encodeMessage } from '../net/codec.js';
import { FrameDecoder, encodeFrame } from '../net/framing.js';

/** The ids the echoed messages are validated against (REQUEST/REPLY carry none, but the decoder wants them). */
const NODES: ReadonlySet<number> = new Set([1, 2]);

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const decoder = new FrameDecoder();
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    for (const body of decoder.push(chunk)) {
      const m = decodeMessage(body, NODES);
      if (!m.ok) {
        socket.destroy();
        return;
      }
      socket.write(encodeFrame(encodeMessage({ type: 'REPLY', height: 0, view: 0, ts: m.value.ts + 1 })));
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.stdout.write(`port ${addr.port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
