/**
 * The API key, kept in this browser's localStorage so a reload does not ask again. Storage
 * may be unavailable (private windows, blocked cookies): the key then lives for the page only.
 */
const STORAGE_KEY = 'zimage.apiKey';
let memory: string | undefined;

export function loadKey(): string | undefined {
  try {
    return localStorage.getItem(STORAGE_KEY) ?? memory;
  } catch {
    return memory;
  }
}

export function saveKey(key: string): void {
  memory = key;
  try {
    localStorage.setItem(STORAGE_KEY, key);
  } catch {
    /* kept in memory only */
  }
}

export function forgetKey(): void {
  memory = undefined;
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    /* nothing stored */
  }
}
