import {
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  paginateListObjectsV2, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import { parseS3Url } from './s3Url.js';
import { checkKey, KEY_RE, normalizeContentType, type ByteRange, type ListedObject, type ObjectInfo, type ObjectStream, type Storage, type StoredObject } from './storage.js';

export interface S3StorageOptions {
  /** `s3://bucket` or `s3://bucket/prefix`. */
  url: string;
  /** Empty: AWS. Otherwise an S3-compatible server (MinIO, Ceph, s3rver, ...). */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /**
   * WHEN_SUPPORTED: the SDK's default CRC32 checksums on every request. WHEN_REQUIRED: only
   * where S3 demands one. Servers that predate the newer checksum headers need WHEN_REQUIRED:
   * s3rver 3.7, for one, ignores the headers on a buffered put but stores a streamed put's
   * aws-chunked framing as the object's bytes.
   */
  checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
}

/** S3's DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000;

/** A missing object (not a missing bucket, which is a configuration error worth surfacing). */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
}

/**
 * Objects in an S3 bucket under a key prefix. Credentials come from the SDK's default chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles, ...). Puts are atomic
 * in S3, so there are no temporary objects to sweep.
 */
export class S3Storage implements Storage {
  readonly name = 's3';
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;

  constructor(opts: S3StorageOptions) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(opts.url));
    // Every download streamed through /outputs holds a socket until its client has read it all,
    // so the SDK's pool of 50 would make slow clients queue everyone else.
    const agent = { keepAlive: true, maxSockets: 512 };
    this.client = new S3Client({
      endpoint: opts.endpoint || undefined,
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      requestChecksumCalculation: opts.checksums,
      responseChecksumValidation: opts.checksums,
      requestHandler: { httpAgent: agent, httpsAgent: agent, connectionTimeout: 10_000 },
    });
  }

  /** Checks at start that the bucket answers, so a wrong endpoint or credentials fail now with a message, not at the first image. */
  static async open(opts: S3StorageOptions): Promise<S3Storage> {
    const storage = new S3Storage(opts);
    try {
      await storage.client.send(new HeadBucketCommand({ Bucket: storage.bucket }));
    } catch (err) {
      storage.client.destroy();
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      throw new Error(`S3 storage ${opts.url}: the bucket did not answer (${e.name}${e.$metadata?.httpStatusCode ? ` ${e.$metadata.httpStatusCode}` : ''}: ${e.message}). ` +
        `Check that the bucket exists, ZIMAGE_S3_ENDPOINT${opts.endpoint ? ` (${opts.endpoint})` : ''} and ZIMAGE_S3_REGION (${opts.region}), ` +
        'and the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE).', { cause: err });
    }
    return storage;
  }

  private keyOf(key: string): string {
    return this.prefix + checkKey(key);
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    await this.client.send(new PutObjectCommand({
      Bucket: this.bucket, Key: this.keyOf(key), Body: data, ContentLength: data.length, ContentType: normalizeContentType(contentType),
    }));
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      const bytes = await res.Body!.transformToByteArray();
      return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), contentType: normalizeContentType(res.ContentType) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      return {
        size: res.ContentLength ?? 0, contentType: normalizeContentType(res.ContentType),
        lastModified: res.LastModified?.getTime() ?? 0, etag: res.ETag ?? '""',
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async stream(key: string, range?: ByteRange): Promise<ObjectStream | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({
        Bucket: this.bucket, Key: this.keyOf(key), Range: range ? `bytes=${range.start}-${range.end}` : undefined,
      }));
      // A ranged answer's Content-Length is the slice; the whole size is after the "/" of Content-Range.
      const total = range ? Number(/\/(\d+)$/.exec(res.ContentRange ?? '')?.[1]) : res.ContentLength ?? 0;
      if (range && res.ContentRange !== `bytes ${range.start}-${range.end}/${total}`) {
        // Better a failed download than other bytes under our Content-Range (s3rver answers the whole object to bytes=0-0).
        (res.Body as Readable).destroy();
        throw new Error(`S3 answered ${res.ContentRange ?? 'no Content-Range'} to bytes=${range.start}-${range.end} of ${key}`);
      }
      return {
        body: res.Body as Readable, range, size: total, contentType: normalizeContentType(res.ContentType),
        lastModified: res.LastModified?.getTime() ?? 0, etag: res.ETag ?? '""',
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    const all = keys.map((k) => this.keyOf(k));
    for (let i = 0; i < all.length; i += DELETE_BATCH) {
      const res = await this.client.send(new DeleteObjectsCommand({
        Bucket: this.bucket, Delete: { Objects: all.slice(i, i + DELETE_BATCH).map((Key) => ({ Key })), Quiet: true },
      }));
      // DeleteObjects answers 200 even when some keys failed; those are listed in Errors.
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length) throw new Error(`S3 could not delete ${failed.length} objects, e.g. ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`);
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.prefix + prefix })) {
      for (const obj of page.Contents ?? []) {
        const key = obj.Key!.slice(this.prefix.length);
        // Objects someone else put under the prefix are not ours to report (or to sweep).
        if (KEY_RE.test(key)) yield { key, size: obj.Size ?? 0, lastModified: obj.LastModified?.getTime() ?? 0 };
      }
    }
  }

  async sweepTemporary(_olderThanMs: number): Promise<number> {
    return 0;
  }

  async presignedUrl(key: string, expiresSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }), { expiresIn: expiresSeconds });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
