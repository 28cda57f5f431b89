/**
 * Whether there is room to write: free space on the local directories this process writes to
 * (the data directory with the SQLite database, a storage directory), measured with statfs,
 * and the writes that failed for lack of space. Submits are refused, the worker waits and
 * /health says "full" while it is; all of them resume by themselves once space returns.
 */
import fs from 'node:fs/promises';
import type { SpaceState, StorageSpace } from './storage.js';

export interface WatchedDir {
  /** In words, for /health and logs ("data directory"): never the path, which is the operator's. */
  label: string;
  path: string;
}

export interface SpaceMonitorOptions {
  /** Measurements are reused this long, so a submit costs no syscall. */
  cacheMs?: number;
  /**
   * After a write failed for lack of space that statfs did not see (a quota, S3, another mount),
   * "full" holds this long; the next write then tells again.
   */
  holdMs?: number;
  now?: () => number;
}

const MIB = 1024 * 1024;

export class SpaceMonitor implements StorageSpace {
  private cached: { at: number; state: Promise<SpaceState> } | undefined;
  private failedAt = Number.NEGATIVE_INFINITY;
  /** Whether statfs itself has reported the disk full since the last failed write (then it can be trusted to see the space return). */
  private measuredFull = false;
  private readonly now: () => number;

  constructor(private readonly dirs: readonly WatchedDir[], private readonly minFreeBytes: number, private readonly opts: SpaceMonitorOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** A write failed with ENOSPC (or SQLITE_FULL): full now, whatever statfs said a moment ago. */
  noteNoSpace(): void {
    this.failedAt = this.now();
    this.measuredFull = false;
    this.cached = undefined;
  }

  async check(): Promise<SpaceState> {
    const measured = await this.measure();
    if (measured.full) {
      this.measuredFull = true;
      return measured;
    }
    if (!this.measuredFull && this.now() - this.failedAt < (this.opts.holdMs ?? 10_000)) {
      return { ...measured, full: true, reason: 'a write failed for lack of space' };
    }
    return measured;
  }

  private measure(): Promise<SpaceState> {
    const now = this.now();
    if (!this.cached || now - this.cached.at >= (this.opts.cacheMs ?? 1000)) this.cached = { at: now, state: this.statfs() };
    return this.cached.state;
  }

  private async statfs(): Promise<SpaceState> {
    let freeBytes: number | null = null;
    let reason: string | null = null;
    for (const dir of this.dirs) {
      let stats;
      try {
        stats = await fs.statfs(dir.path);
      } catch {
        continue; // not there (yet): nothing to measure
      }
      const free = Number(stats.bavail) * Number(stats.bsize);
      freeBytes = freeBytes === null ? free : Math.min(freeBytes, free);
      if (reason) continue;
      if (free <= this.minFreeBytes) {
        reason = `the ${dir.label} has ${(free / MIB).toFixed(1)} MiB free (ZIMAGE_MIN_FREE_MB is ${(this.minFreeBytes / MIB).toFixed(0)})`;
      } else if (Number(stats.files) > 0 && Number(stats.ffree) === 0) {
        reason = `the ${dir.label} has no free inodes left`;
      }
    }
    return { full: reason !== null, freeBytes, reason };
  }
}
