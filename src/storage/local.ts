import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkKey, KEY_RE, normalizeContentType, type ByteRange, type ListedObject, type ObjectInfo, type ObjectStream, type Storage, type StoredObject } from './storage.js';

/**
 * Content types live in sidecars, `<root>/.meta/<key>` holding {"contentType"}: the key
 * directories keep only the plain images an operator can list and copy, and sidecars work on any
 * filesystem (NFS included, unlike extended attributes). ".meta" can never be a key directory.
 */
const META_DIR = '.meta';
const DIR_RE = /^[a-z]+$/;
/** Only for files written before sidecars existed: an upgraded data directory keeps serving its images. */
const LEGACY_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.webp': 'image/webp' };

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

async function writeSynced(file: string, data: Buffer | string): Promise<void> {
  const handle = await fs.open(file, 'w', 0o600); // owner-only, as every data file
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Files in a directory, which may be a mount shared by several processes. Keys look like
 * "outputs/gen_<hex>.png" or "uploads/<taskid>_image": they are made by the server and checked
 * against a strict pattern, so no key can name a path outside the root, however it was encoded.
 */
export class LocalStorage implements Storage {
  readonly name = 'local';
  constructor(private readonly root: string) {}

  /** Creates the directories. Leftovers of dead writers are swept by the maintenance leader (sweepTemporary), not here. */
  static async open(root: string): Promise<LocalStorage> {
    for (const dir of ['outputs', 'uploads']) {
      await fs.mkdir(path.join(root, dir), { recursive: true, mode: 0o700 });
      await fs.mkdir(path.join(root, META_DIR, dir), { recursive: true, mode: 0o700 });
    }
    return new LocalStorage(root);
  }

  private pathOf(key: string): string {
    return path.join(this.root, checkKey(key));
  }

  /** The sidecar of a file given by its path. */
  private metaOf(file: string): string {
    return path.join(this.root, META_DIR, path.relative(this.root, file));
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    const file = this.pathOf(key);
    const metaFile = this.metaOf(file);
    // Write then rename, so a reader never sees half a file and a crash leaves no partial output.
    // Both files and their directory entries are synced before the task that names them is committed,
    // so a power cut never leaves a completed task pointing at a missing or empty image. The
    // random suffix keeps writers on different hosts of a shared mount apart (pids may repeat).
    const tmp = `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const meta = JSON.stringify({ contentType: normalizeContentType(contentType) });
    try {
      await Promise.all([writeSynced(metaFile + tmp, meta), writeSynced(file + tmp, data)]);
      // The type first: a visible file always has its sidecar.
      await fs.rename(metaFile + tmp, metaFile);
      await fs.rename(file + tmp, file);
    } catch (err) {
      await Promise.all([fs.rm(metaFile + tmp, { force: true }), fs.rm(file + tmp, { force: true })]);
      throw err;
    }
    await Promise.all([syncDir(path.dirname(metaFile)), syncDir(path.dirname(file))]);
  }

  private async typeOf(file: string): Promise<string> {
    try {
      return normalizeContentType(JSON.parse(await fs.readFile(this.metaOf(file), 'utf8')).contentType);
    } catch (err) {
      if (!isMissing(err)) throw err;
      return LEGACY_TYPES[path.extname(file)] ?? 'application/octet-stream';
    }
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const file = this.pathOf(key);
    try {
      const data = await fs.readFile(file);
      return { data, contentType: await this.typeOf(file) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  private async info(file: string, stat: { size: number; mtimeMs: number }): Promise<ObjectInfo> {
    const lastModified = Math.floor(stat.mtimeMs);
    // Keys are never rewritten, so size and mtime identify the bytes.
    return { size: stat.size, contentType: await this.typeOf(file), lastModified, etag: `"${stat.size.toString(16)}-${lastModified.toString(16)}"` };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key);
    try {
      return await this.info(file, await fs.stat(file));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async stream(key: string, range?: ByteRange): Promise<ObjectStream | undefined> {
    const file = this.pathOf(key);
    // Open first, then stat the handle: a delete in between cannot make the two disagree.
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const info = await this.info(file, await handle.stat());
      const body = handle.createReadStream(range ? { start: range.start, end: range.end } : {});
      return { ...info, body, range };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await fs.rm(file, { force: true });
    await fs.rm(this.metaOf(file), { force: true });
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) checkKey(key);
    // A few at a time: thousands of parallel unlinks would only queue up in libuv's pool.
    for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => this.delete(k)));
  }

  /** The key directories (outputs, uploads, ...) whose names could start `prefix`. */
  private async dirsFor(prefix: string): Promise<{ dir: string; namePrefix: string }[]> {
    const slash = prefix.indexOf('/');
    if (slash >= 0) return DIR_RE.test(prefix.slice(0, slash)) ? [{ dir: prefix.slice(0, slash), namePrefix: prefix.slice(slash + 1) }] : [];
    const entries = await fs.readdir(this.root, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && DIR_RE.test(e.name) && e.name.startsWith(prefix)).map((e) => ({ dir: e.name, namePrefix: '' }));
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    for (const { dir, namePrefix } of await this.dirsFor(prefix)) {
      let handle;
      try {
        handle = await fs.opendir(path.join(this.root, dir));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      for await (const entry of handle) {
        const key = `${dir}/${entry.name}`;
        if (!entry.isFile() || !entry.name.startsWith(namePrefix) || !KEY_RE.test(key)) continue;
        try {
          const stat = await fs.stat(path.join(this.root, key));
          yield { key, size: stat.size, lastModified: Math.floor(stat.mtimeMs) };
        } catch (err) {
          if (!isMissing(err)) throw err; // deleted while listing
        }
      }
    }
  }

  async sweepTemporary(olderThanMs: number): Promise<number> {
    const before = Date.now() - olderThanMs;
    let removed = 0;
    for (const { dir } of await this.dirsFor('')) {
      // Half-written files.
      for (const name of await namesIn(path.join(this.root, dir))) {
        if (name.endsWith('.tmp')) removed += await removeIfOlder(path.join(this.root, dir, name), before);
      }
      // Half-written sidecars, and sidecars whose file never arrived (the writer died between the renames).
      for (const name of await namesIn(path.join(this.root, META_DIR, dir))) {
        if (name.endsWith('.tmp') || !(await exists(path.join(this.root, dir, name)))) {
          removed += await removeIfOlder(path.join(this.root, META_DIR, dir, name), before);
        }
      }
    }
    return removed;
  }

  async close(): Promise<void> {}
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

async function namesIn(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** 1 if it removed the file (last modified before `before`), else 0. */
async function removeIfOlder(file: string, before: number): Promise<number> {
  try {
    if ((await fs.stat(file)).mtimeMs >= before) return 0;
    await fs.rm(file, { force: true });
    return 1;
  } catch (err) {
    if (isMissing(err)) return 0;
    throw err;
  }
}
