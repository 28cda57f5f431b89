/**
 * Frames between the server and the Python worker (python/zimage_protocol.py is the other half).
 * A frame: magic "ZIF1", uint32 BE header length, uint32 BE payload length, a JSON header
 * (an object with a `type`), then the raw payload. Pixels travel as payload, once per image.
 * The magic turns a stray library print on the protocol stream into a loud error instead of
 * a silently shifted stream.
 */

export const MAGIC = Buffer.from('ZIF1', 'latin1');
const PREFIX = 12;
const MAX_HEADER = 1 << 20;
const MAX_PAYLOAD = 2 ** 31;

export type FrameHeader = { type: string } & Record<string, unknown>;

export interface Frame {
  header: FrameHeader;
  payload: Buffer;
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * The frame as buffers to write in order. The payload may come in parts (an edit's image and
 * its mask): they are written one after another and never joined or copied.
 */
export function encodeFrame(header: FrameHeader, payload: Buffer | readonly Buffer[] = []): Buffer[] {
  const parts = (Buffer.isBuffer(payload) ? [payload] : [...payload]).filter((p) => p.length);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32BE(json.length, 4);
  prefix.writeUInt32BE(parts.reduce((n, p) => n + p.length, 0), 8);
  return [prefix, json, ...parts];
}

/**
 * Incremental decoder. Chunks are kept in a list and joined once per frame, so a
 * 12 MB image arriving in 64 KB pieces costs one copy, not hundreds.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < PREFIX) break;
      const head = this.peek(PREFIX);
      if (!head.subarray(0, 4).equals(MAGIC)) {
        const sample = this.peek(Math.min(this.buffered, 80)).toString('utf8').replace(/[^\x20-\x7e]/g, '.');
        throw new ProtocolError(`worker wrote non-protocol bytes to stdout: "${sample}"`);
      }
      const headerLen = head.readUInt32BE(4);
      const payloadLen = head.readUInt32BE(8);
      if (headerLen > MAX_HEADER || payloadLen > MAX_PAYLOAD) throw new ProtocolError('frame too large');
      const total = PREFIX + headerLen + payloadLen;
      if (this.buffered < total) break;
      const all = this.take(total);
      let header: unknown;
      try {
        header = JSON.parse(all.subarray(PREFIX, PREFIX + headerLen).toString('utf8'));
      } catch {
        throw new ProtocolError('frame header is not JSON');
      }
      if (!header || typeof header !== 'object' || typeof (header as FrameHeader).type !== 'string') {
        throw new ProtocolError('frame header has no type');
      }
      frames.push({ header: header as FrameHeader, payload: all.subarray(PREFIX + headerLen) });
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    // Keep the join: otherwise a frame arriving in pieces smaller than the prefix would be
    // concatenated again on every push (quadratic in the frame size).
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    const rest = joined.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return joined.subarray(0, n);
  }
}
