/**
 * Where the API keys come from: ZIMAGE_API_KEYS (`name:key,name2:key2` or bare keys) and
 * ZIMAGE_API_KEYS_FILE (one `name:key` a line). The file is re-read on SIGHUP, so the set of
 * keys in use is a KeyRing that can be swapped while the server runs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import { ConfigError, type Config } from '../config.js';

export interface ApiKey {
  name: string;
  key: string;
}

const NAME_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

/** Checks one entry and adds it; `where` names it in the error ("ZIMAGE_API_KEYS entry 2", "keys.txt line 4"). */
function addKey(keys: ApiKey[], name: string, key: string, where: string, format: string): void {
  if (!NAME_RE.test(name)) throw new ConfigError(`${where}: the name "${name}" must be 1-64 letters, digits or _.@- (format ${format})`);
  if (!key || /\s/.test(key)) throw new ConfigError(`${where} ("${name}"): the key must be non-empty and contain no spaces`);
  if (keys.some((k) => k.name === name)) throw new ConfigError(`${where}: the name "${name}" is used twice; give each key its own name`);
  if (keys.some((k) => k.key === key)) throw new ConfigError(`${where}: the key of "${name}" is also the key of another entry; keys must differ`);
  keys.push({ name, key });
}

/**
 * Parses `name:key,name2:key2` (the name is what comes before the first colon) or bare keys,
 * which are named by position: key-1, key-2, ... Empty entries are ignored.
 */
export function parseApiKeys(raw: string, into: ApiKey[] = []): ApiKey[] {
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const name = colon >= 0 ? entry.slice(0, colon).trim() : `key-${i + 1}`;
    const key = colon >= 0 ? entry.slice(colon + 1).trim() : entry;
    addKey(into, name, key, `ZIMAGE_API_KEYS entry ${i + 1}`, 'name:key,name2:key2');
  });
  return into;
}

/** Parses a key file: one `name:key` a line; blank lines and `#` comments (whole lines or after the key) are skipped. */
export function parseKeyFile(text: string, file: string, into: ApiKey[] = []): ApiKey[] {
  text.split(/\r?\n/).forEach((line, i) => {
    const entry = line.replace(/(^|\s)#.*$/, '').trim();
    if (!entry) return;
    const where = `${file} line ${i + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new ConfigError(`${where}: write each key as name:key (one a line), e.g. "alice:${'x'.repeat(8)}"`);
    addKey(into, entry.slice(0, colon).trim(), entry.slice(colon + 1).trim(), where, 'name:key');
  });
  return into;
}

/** Every configured key, from ZIMAGE_API_KEYS and then ZIMAGE_API_KEYS_FILE. Throws ConfigError for a bad list or file. */
export function loadApiKeys(config: Pick<Config, 'apiKeys' | 'apiKeysFile'>): ApiKey[] {
  const keys = parseApiKeys(config.apiKeys);
  if (!config.apiKeysFile) return keys;
  let text: string;
  try {
    text = fs.readFileSync(config.apiKeysFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`ZIMAGE_API_KEYS_FILE: cannot read ${config.apiKeysFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseKeyFile(text, config.apiKeysFile, keys);
}

/** Whether the configuration turns auth on: any key, or a key file (which may be filled later and reloaded). */
export const authConfigured = (config: Pick<Config, 'apiKeys' | 'apiKeysFile'>): boolean =>
  parseApiKeys(config.apiKeys).length > 0 || config.apiKeysFile !== '';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The keys in use. Auth is on when any key is configured or a key file is named (a key file
 * that holds no key yet refuses everyone rather than letting everyone in). reload() swaps
 * the whole set at once, or nothing: a request sees the old keys or the new ones, never a mix.
 */
export class KeyRing {
  readonly enabled: boolean;
  private keys: Array<{ name: string; digest: Buffer }>;

  constructor(private readonly config: Pick<Config, 'apiKeys' | 'apiKeysFile'>) {
    this.keys = KeyRing.digests(loadApiKeys(config));
    this.enabled = this.keys.length > 0 || config.apiKeysFile !== '';
  }

  private static digests(keys: ApiKey[]) {
    return keys.map((k) => ({ name: k.name, digest: digest(k.key) }));
  }

  get size(): number {
    return this.keys.length;
  }

  get names(): string[] {
    return this.keys.map((k) => k.name);
  }

  /** The name of the key presented, compared against every key in constant time (equal-length digests, no early exit). */
  ownerOf(presented: string): string | undefined {
    const d = digest(presented);
    let owner: string | undefined;
    for (const k of this.keys) if (timingSafeEqual(d, k.digest) && owner === undefined) owner = k.name;
    return owner;
  }

  /**
   * Re-reads ZIMAGE_API_KEYS_FILE (and ZIMAGE_API_KEYS, unchanged in a running process).
   * Throws ConfigError, keeping the keys in use, when the file is missing or does not parse.
   */
  reload(): { added: string[]; removed: string[]; size: number } {
    const next = KeyRing.digests(loadApiKeys(this.config));
    const before = new Set(this.names);
    const after = new Set(next.map((k) => k.name));
    this.keys = next;
    return {
      added: [...after].filter((n) => !before.has(n)),
      removed: [...before].filter((n) => !after.has(n)),
      size: next.length,
    };
  }
}
