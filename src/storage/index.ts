/**
 * The storage a process uses, chosen by ZIMAGE_STORAGE alone: every role (API node, worker,
 * maintenance leader) opens the same one from the same configuration.
 */
import path from 'node:path';
import type { Config } from '../config.js';
import { LocalStorage } from './local.js';
import { MonitoredStorage } from './monitored.js';
import { isS3Url } from './s3Url.js';
import { SpaceMonitor, type WatchedDir } from './space.js';
import type { Storage } from './storage.js';

export type { Storage } from './storage.js';

type StorageConfig = Pick<Config, 'storage' | 'dataDir' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle' | 's3Checksums'>
  & Partial<Pick<Config, 'minFreeMb' | 'databaseUrl'>>;

async function openBackend(config: StorageConfig): Promise<Storage> {
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

/**
 * The local directories whose free space decides "storage full": a storage directory, and the
 * data directory where the embedded SQLite database lives (a fleet keeps its records in Postgres).
 */
function watchedDirs(config: StorageConfig): WatchedDir[] {
  const dirs: WatchedDir[] = [];
  if (!config.databaseUrl) dirs.push({ label: 'data directory', path: path.resolve(config.dataDir) });
  if (!isS3Url(config.storage)) {
    const root = path.resolve(config.storage || config.dataDir);
    if (!dirs.some((d) => d.path === root)) dirs.push({ label: 'storage directory', path: root });
  }
  return dirs;
}

/** Empty: the data directory. A path: that directory. `s3://bucket/prefix`: S3 (the SDK loads only then). */
export async function openStorage(config: StorageConfig): Promise<Storage> {
  const space = new SpaceMonitor(watchedDirs(config), (config.minFreeMb ?? 0) * 1024 * 1024);
  return new MonitoredStorage(await openBackend(config), space);
}
