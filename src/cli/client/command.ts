/**
 * The shape of a client command: its words and options (which the parser and the help both
 * read, so they cannot disagree) and what it does.
 */
import type { ArgSpec, OptionKey, Parsed } from './args.js';
import type { Context } from './context.js';

export interface Command {
  name: string;
  /** One line, for the command list. */
  summary: string;
  /** More about what it does, for its own help (wrapped to the terminal). */
  description?: string;
  args: readonly ArgSpec[];
  /** Its own options; the common ones (--url, --api-key, --json, --quiet, --help) are added. */
  options: readonly OptionKey[];
  examples: readonly string[];
  /** Resolves with the exit code. */
  run(ctx: Context, parsed: Parsed): Promise<number>;
}
