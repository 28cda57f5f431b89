/**
 * The storage port: where encoded outputs and uploads live (a directory, possibly a shared
 * mount, or S3). Keys are made by the server ("outputs/gen_<hex>.png", "uploads/<id>_image")
 * and checked against KEY_RE by every implementation, so no key can name anything else.
 */
import type { Readable } from 'node:stream';

/** `<dir>/<name>[.<ext>]`: the only shape a key may have, in every implementation. */
export const KEY_RE = /^[a-z]+\/[A-Za-z0-9_]+(\.[a-z0-9]+)?$/;

export function checkKey(key: string): string {
  if (!KEY_RE.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
  return key;
}

/**
 * Content types are sent back as a header: an upload's type comes from the client, so anything
 * that is not a plain `type/subtype[; params]` is stored as octet-stream rather than refused.
 */
export function normalizeContentType(value: unknown): string {
  return typeof value === 'string' && /^[\w.+-]+\/[\w.+-]+(\s*;[\x20-\x7e]*)?$/.test(value) && value.length <= 200
    ? value
    : 'application/octet-stream';
}

export interface StoredObject {
  data: Buffer;
  contentType: string;
}

export interface ObjectInfo {
  /** Bytes in the whole object. */
  size: number;
  /** As given to put(): stored, never guessed from the key. */
  contentType: string;
  /** Epoch milliseconds. */
  lastModified: number;
  /** A strong validator, quoted as an HTTP ETag. */
  etag: string;
}

/** Inclusive byte offsets, as in HTTP: {start: 0, end: 0} is the first byte. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectStream extends ObjectInfo {
  /** The bytes (the range's slice when one was asked for); read it or destroy it. */
  body: Readable;
  range?: ByteRange;
}

export interface ListedObject {
  key: string;
  size: number;
  /** Epoch milliseconds. */
  lastModified: number;
}

/** Whether the disks this process writes to have room (see space.ts). */
export interface SpaceState {
  full: boolean;
  /** Free bytes on the fullest local directory watched; null where none can be measured (S3 alone). */
  freeBytes: number | null;
  /** What is full, in words; null while not full. */
  reason: string | null;
}

export interface StorageSpace {
  check(): Promise<SpaceState>;
  /** A write (a file, or the database) failed for lack of space. */
  noteNoSpace(): void;
}

export interface Storage {
  readonly name: string;
  /** Atomic: readers see the whole object or none. Durable before it resolves. */
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  /** The whole object in memory: for b64_json answers and edit inputs. */
  get(key: string): Promise<StoredObject | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * The object as a stream, for serving with backpressure. A range must lie inside the object
   * (resolve it against head() first); keys are immutable, so head and stream agree.
   */
  stream(key: string, range?: ByteRange): Promise<ObjectStream | undefined>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Every object whose key starts with `prefix` (e.g. "outputs/"), in no particular order; for the orphan sweep. */
  list(prefix: string): AsyncIterable<ListedObject>;
  /**
   * Removes leftovers of writers that died mid-put, older than `olderThanMs`. Only the
   * maintenance leader calls it: on a shared directory a younger leftover may be another
   * process's write in progress. Returns how many it removed.
   */
  sweepTemporary(olderThanMs: number): Promise<number>;
  /**
   * Room left on the disks of this process (the storage directory, the data directory): present
   * on the storage openStorage returns, whose put() throws StorageFullError for lack of space.
   */
  readonly space?: StorageSpace;
  /** A URL that downloads the object without this server, where the backend has such URLs (S3). */
  presignedUrl?(key: string, expiresSeconds: number): Promise<string>;
  close(): Promise<void>;
}
