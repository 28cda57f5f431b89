import fs from 'node:fs/promises';
import path from 'node:path';
import type { Storage, StoredObject } from '../interfaces.js';

const KEY_RE = /^[a-z]+\/[A-Za-z0-9_]+(\.[a-z0-9]+)?$/;
const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
};

/**
 * Files in a directory. Keys look like "outputs/gen_<hex>.png" or "uploads/<taskid>_image":
 * they are made by the server and checked against a strict pattern, so no key can
 * name a path outside the root, however it was encoded on the way in.
 */
export class LocalStorage implements Storage {
  readonly name = 'local';
  constructor(private readonly root: string) {}

  static async open(root: string): Promise<LocalStorage> {
    for (const dir of ['outputs', 'uploads']) {
      await fs.mkdir(path.join(root, dir), { recursive: true });
      // Half-written files of a process that died mid-write: never named by any task.
      for (const name of await fs.readdir(path.join(root, dir))) {
        if (name.endsWith('.tmp')) await fs.rm(path.join(root, dir, name), { force: true });
      }
    }
    return new LocalStorage(root);
  }

  private pathOf(key: string): string {
    if (!KEY_RE.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
    return path.join(this.root, key);
  }

  async put(key: string, data: Buffer): Promise<void> {
    const file = this.pathOf(key);
    // Write then rename, so a reader never sees half a file and a crash leaves no partial output.
    // The file and the directory entry are synced before the task that names them is committed,
    // so a power cut never leaves a completed task pointing at a missing or empty image.
    const tmp = `${file}.${process.pid}.tmp`;
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    const dir = await fs.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const data = await fs.readFile(this.pathOf(key));
      return { data, contentType: TYPES[path.extname(key)] ?? 'application/octet-stream' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  async close(): Promise<void> {}
}
