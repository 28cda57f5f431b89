/**
 * A real S3-compatible server for tests: s3rver (from npm) on a free loopback port, storing
 * objects in a temporary directory. No mock: the AWS SDK talks HTTP to it like to S3.
 *
 * Quirks of s3rver 3.7 worth knowing: it accepts any SigV4 signature from its built-in account
 * (access key S3RVER, secret S3RVER), and it predates the SDK's default CRC32 checksums. A
 * buffered put works either way (the headers are ignored), but a streamed put under
 * WHEN_SUPPORTED is sent aws-chunked and s3rver stores the chunk framing as the object's bytes,
 * so use ZIMAGE_S3_CHECKSUMS=when_required with it (test/storage proves both on buffered puts).
 * It also answers `Range: bytes=0-0` with the whole object (its parser reads an end of 0 as
 * none); S3Storage checks Content-Range and fails such a download rather than serve it.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tempDir } from './server.js';

interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverServer;

export interface TestS3 {
  /** http://127.0.0.1:PORT, for ZIMAGE_S3_ENDPOINT (path-style addressing). */
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps the objects. */
  directory: string;
  close(): Promise<void>;
}

/**
 * Starts s3rver with one bucket. Also points the SDK's default credential chain at s3rver's
 * account through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (each test file is its own process).
 */
export async function startS3rver(bucket = 'zimage-test'): Promise<TestS3> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
  const directory = tempDir('zimage-s3rver-');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    directory,
    close: async () => {
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
