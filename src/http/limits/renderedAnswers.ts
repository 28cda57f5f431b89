/**
 * Large answers rendered once. A finished `b64_json` task is megabytes of JSON; rendered anew for
 * every poll (or every long-poll waiter woken by its completion) it costs a storage read, a
 * base64 encoding and a serialisation each time, and a burst of pipelined polls holds one copy
 * per request. Here the serialised bytes are made once (concurrent askers share the same
 * promise) and every answer sends the same Buffer. Entries are checked against a fingerprint
 * of what could still change (state, webhook delivery), kept least-recently-used within a
 * byte budget, and an answer larger than the budget is simply not kept.
 */

interface Entry {
  fingerprint: string;
  body: Promise<Buffer>;
  /** Bytes, once rendered (0 while rendering). */
  size: number;
}

export class RenderedAnswers {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly maxBytes: number, private readonly maxEntries = 256) {}

  /** The answer kept under `key` if its fingerprint still matches, else `render()`'s, kept for next time. */
  get(key: string, fingerprint: string, render: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.entries.get(key);
    if (hit && hit.fingerprint === fingerprint) {
      this.entries.delete(key); // re-insert: most recently used last
      this.entries.set(key, hit);
      return hit.body;
    }
    if (hit) this.remove(key, hit);
    const entry: Entry = { fingerprint, body: render(), size: 0 };
    this.entries.set(key, entry);
    entry.body.then((buf) => {
      if (this.entries.get(key) !== entry) return;
      if (buf.length > this.maxBytes) return this.remove(key, entry);
      entry.size = buf.length;
      this.bytes += buf.length;
      this.trim();
    }, () => {
      if (this.entries.get(key) === entry) this.remove(key, entry);
    });
    return entry.body;
  }

  /** Bytes held now (rendered entries). */
  get heldBytes(): number {
    return this.bytes;
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.size;
  }

  private trim(): void {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.maxBytes && this.entries.size <= this.maxEntries) return;
      if (entry.size > 0) this.remove(key, entry); // entries still rendering stay: their askers wait on them
    }
  }
}
