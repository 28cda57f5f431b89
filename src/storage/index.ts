/**
 * The storage a process uses, chosen by ZIMAGE_STORAGE alone: every role (API node, worker,
 * maintenance leader) opens the same one from the same configuration.
 */
import type { Config } from '../config.js';
import { LocalStorage } from './local.js';
import { isS3Url } from './s3Url.js';
import type { Storage } from './storage.js';

export type { Storage } from './storage.js';

type StorageConfig = Pick<Config, 'storage' | 'dataDir' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle' | 's3Checksums'>;

/** Empty: the data directory. A path: that directory. `s3://bucket/prefix`: S3 (the SDK loads only then). */
export async function openStorage(config: StorageConfig): Promise<Storage> {
  if (!isS3Url(config.storage)) return LocalStorage.open(config.storage || config.dataDir);
  const { S3Storage } = await import('./s3.js');
  return S3Storage.open({
    url: config.storage,
    endpoint: config.s3Endpoint || undefined,
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
    checksums: config.s3Checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  });
}
