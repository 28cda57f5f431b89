import { InvalidCursorError } from '../errors.js';

/**
 * Task-list cursors: the base-36 seq of the last task on the previous page, so pages stay
 * stable while new tasks arrive. Both stores page on seq, so both use these.
 */
export const cursorOf = (seq: number): string => seq.toString(36);

/** The seq to list below; a cursor this server did not make is a 400. */
export function seqBefore(cursor: string | undefined): number {
  if (cursor === undefined) return Number.MAX_SAFE_INTEGER;
  const before = /^[0-9a-z]{1,11}$/.test(cursor) ? parseInt(cursor, 36) : 0;
  if (!(before > 0 && before <= Number.MAX_SAFE_INTEGER)) {
    throw new InvalidCursorError();
  }
  return before;
}
