/**
 * The storage as every role uses it: the configured backend, plus what it knows of free space.
 * A put that fails for lack of space becomes StorageFullError (507 on a submit, a deferral in
 * the worker) and marks the space full, so that submits are refused until space returns.
 */
import { StorageFullError } from '../errors.js';
import { isNoSpaceError } from './faults.js';
import type { ByteRange, ListedObject, ObjectInfo, ObjectStream, Storage, StoredObject } from './storage.js';
import type { SpaceMonitor } from './space.js';

export class MonitoredStorage implements Storage {
  constructor(private readonly inner: Storage, readonly space: SpaceMonitor) {}

  get name(): string {
    return this.inner.name;
  }

  /** The backend's own presigned URLs, where it has them (S3). */
  get presignedUrl(): Storage['presignedUrl'] {
    return this.inner.presignedUrl?.bind(this.inner);
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    try {
      await this.inner.put(key, data, contentType);
    } catch (err) {
      if (!isNoSpaceError(err)) throw err;
      this.space.noteNoSpace();
      throw new StorageFullError(`no space left to store ${key.split('/')[0]}`, 30, { cause: err });
    }
  }

  get(key: string): Promise<StoredObject | undefined> {
    return this.inner.get(key);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  stream(key: string, range?: ByteRange): Promise<ObjectStream | undefined> {
    return this.inner.stream(key, range);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    return this.inner.deleteMany(keys);
  }

  list(prefix: string): AsyncIterable<ListedObject> {
    return this.inner.list(prefix);
  }

  sweepTemporary(olderThanMs: number): Promise<number> {
    return this.inner.sweepTemporary(olderThanMs);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
