import type { ByteRange } from '../storage/storage.js';

/**
 * One `Range: bytes=…` header against an object of `size` bytes (RFC 9110 §14.1.2).
 * undefined: no usable single range, so the whole object is sent (a server may ignore a
 * Range it does not support, such as several ranges). 'unsatisfiable': answer 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // "bytes=-N": the last N bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // invalid, so ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** If-None-Match: a list of entity tags (weak comparison) or "*". */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}
