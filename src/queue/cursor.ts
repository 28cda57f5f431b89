import { createHash } from 'node:crypto';
import { InvalidCursorError } from '../errors.js';

/**
 * Task-list cursors: the base-36 seq of the last task on the previous page, so pages stay
 * stable while new tasks arrive, and a short check of it. Without the check any word of
 * letters and digits ("garbage", "next") would read as a seq and silently answer some page;
 * with it a cursor this server did not make is a 400. Both stores page on seq, so both use these.
 */
const check = (seq: string) => createHash('sha256').update(`zimage-cursor:${seq}`).digest('hex').slice(0, 6);

export const cursorOf = (seq: number): string => {
  const s = seq.toString(36);
  return `${s}.${check(s)}`;
};

/** The seq to list below; a cursor this server did not make is InvalidCursorError (a 400). */
export function seqBefore(cursor: string | undefined): number {
  if (cursor === undefined) return Number.MAX_SAFE_INTEGER;
  const m = /^([0-9a-z]{1,11})\.([0-9a-f]{6})$/.exec(cursor);
  const before = m && check(m[1]) === m[2] ? parseInt(m[1], 36) : 0;
  if (!(before > 0 && before <= Number.MAX_SAFE_INTEGER)) throw new InvalidCursorError();
  return before;
}
