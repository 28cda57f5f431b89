/**
 * Small real file systems for the disk-full tests: a tmpfs of a few MiB mounted on a temporary
 * directory (Linux, as root or with CAP_SYS_ADMIN), filled to the last byte on demand. Where no
 * tmpfs can be mounted, mountTmpfs says why, and the tests skip with that message.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/server.js';

export interface Tmpfs {
  dir: string;
  /** Writes a filler file until the file system has no byte left. */
  fill(): void;
  /** Deletes the filler: the space is back. */
  free(): void;
  unmount(): void;
}

/** A mounted tmpfs, or the reason there is none. */
export function mountTmpfs(sizeMb: number): Tmpfs | { skip: string } {
  if (process.platform !== 'linux') return { skip: `a tmpfs needs Linux (this is ${process.platform})` };
  const dir = tempDir('zimage-tmpfs-');
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    const why = mount.error?.message ?? (mount.stderr.trim() || `mount exited ${mount.status}`);
    return { skip: `cannot mount a ${sizeMb} MiB tmpfs here (needs root or CAP_SYS_ADMIN): ${why}` };
  }
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        fs.closeSync(fd);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    unmount() {
      spawnSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
