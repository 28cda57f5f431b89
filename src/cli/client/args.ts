/**
 * The client commands' options, in one table (like src/config.ts for the server), and the one
 * parser every command goes through. node:util parseArgs splits the words (`--flag value`,
 * `--flag=value`, `-o file`, `-ofile`, `--` before a prompt that starts with a dash); the table
 * converts and checks them and gives each its help text, so every command reports mistakes the
 * same way: a UsageError (exit 2) that names the command whose help to read.
 *
 * Only what the CLI must convert is checked here (numbers, the output format, which names the
 * files). Ranges and sizes are the server's to judge: its answer says what it accepts, and the
 * CLI cannot drift from it.
 */
import { parseArgs } from 'node:util';

export type OptionKind = 'string' | 'int' | 'number' | 'bool' | 'format';

export interface OptionSpec {
  long: string;
  short?: string;
  kind: OptionKind;
  /** The value's placeholder in help: `--size WxH`. */
  value?: string;
  /** The environment variable that sets it when the flag is absent. */
  env?: string;
  doc: string;
}

export const FORMATS = ['png', 'jpeg', 'webp'] as const;
export type ImageFormat = (typeof FORMATS)[number];

export const OPTIONS = {
  output: {
    long: 'output', short: 'o', kind: 'string', value: 'FILE',
    doc: 'Where to write the image: a file (with --n 2 or more numbered: out-1.png, out-2.png, ...) or an existing directory '
      + '(or a path ending in "/"). Its extension (.png, .jpg/.jpeg, .webp) sets the format. Default: zimage-<task id>.<ext> '
      + '(zimage-<task id>-<i>.<ext> for several) in the current directory.',
  },
  format: {
    long: 'format', kind: 'format', value: 'png|jpeg|webp',
    doc: 'Image format. Default: from the extension of --output, else png. A format that contradicts --output\'s extension is refused.',
  },
  size: { long: 'size', kind: 'string', value: 'WxH', doc: 'Image size, e.g. 1024x1024 or 1280x720 (each side a multiple of 16, 256 to 2048). Default: 1024x1024; for edits, the input\'s aspect ratio at about 1 megapixel.' },
  n: { long: 'n', short: 'n', kind: 'int', value: 'N', doc: 'Number of images, 1 to 4 (default 1). Image i uses seed + i.' },
  seed: { long: 'seed', kind: 'int', value: 'N', doc: 'Seed of the first image, for repeatable results. Default: random (shown when done).' },
  steps: { long: 'steps', kind: 'int', value: 'N', doc: 'Denoising steps (default: the model\'s, 8 for Turbo).' },
  negative: { long: 'negative', kind: 'string', value: 'TEXT', doc: 'Negative prompt: what to avoid (ignored by Turbo models).' },
  guidance: { long: 'guidance', kind: 'number', value: 'X', doc: 'Classifier-free guidance scale (default: the model\'s).' },
  quality: { long: 'quality', kind: 'int', value: 'N', doc: 'jpeg and webp quality, 0 to 100.' },
  strength: { long: 'strength', kind: 'number', value: 'X', doc: 'How far the result may move from the input image, 0 to 1 (default 0.6).' },
  mask: { long: 'mask', kind: 'string', value: 'FILE', doc: 'Mask image: white (or transparent) where the image should change, black where it must stay.' },
  noWait: { long: 'no-wait', kind: 'bool', doc: 'Submit and print the task id without waiting; fetch the images later with "zimage wait <id>".' },
  status: { long: 'status', kind: 'string', value: 'LIST', doc: 'Only tasks in these states: processing, completed, failed, canceled (or queued, running), comma-separated.' },
  limit: { long: 'limit', kind: 'int', value: 'N', doc: 'How many tasks to list, newest first (default 20).' },
  url: {
    long: 'url', kind: 'string', value: 'URL', env: 'ZIMAGE_URL',
    doc: 'The server\'s address (default http://127.0.0.1:8003).',
  },
  apiKey: { long: 'api-key', kind: 'string', value: 'KEY', env: 'ZIMAGE_API_KEY', doc: 'API key, for a server started with ZIMAGE_API_KEYS.' },
  json: { long: 'json', kind: 'bool', doc: 'Print machine-readable JSON on stdout (and nothing else there); errors too, as {"error": {...}}.' },
  quiet: { long: 'quiet', short: 'q', kind: 'bool', doc: 'No progress or notes on stderr; errors only.' },
  help: { long: 'help', short: 'h', kind: 'bool', doc: 'Show this command\'s help.' },
} satisfies Record<string, OptionSpec>;

export type OptionKey = keyof typeof OPTIONS;

/** Options every client command takes. */
export const COMMON_OPTIONS = ['url', 'apiKey', 'json', 'quiet', 'help'] as const satisfies readonly OptionKey[];

type ValueOf<S> = S extends { kind: 'int' | 'number' } ? number : S extends { kind: 'bool' } ? boolean
  : S extends { kind: 'format' } ? ImageFormat : string;
export type Values = { [K in OptionKey]?: ValueOf<(typeof OPTIONS)[K]> };

export interface ArgSpec {
  name: string;
  doc: string;
}

export interface Parsed {
  values: Values;
  /** The positional arguments, by their ArgSpec name. */
  args: Record<string, string>;
  help: boolean;
}

/** Bad usage: exit 2 with the message and a pointer to the command's help. */
export class UsageError extends Error {
  override name = 'UsageError';

  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

const SPECS = OPTIONS as Record<OptionKey, OptionSpec>;

/** `--size WxH` / `-o, --output FILE`, as help and messages write an option. */
export function flagLabel(spec: OptionSpec): string {
  return `--${spec.long}${spec.value ? ` ${spec.value}` : ''}`;
}

function convert(key: OptionKey, raw: string, rawName: string, command: string): string | number | ImageFormat {
  const spec = SPECS[key];
  switch (spec.kind) {
    case 'int':
      if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`${rawName} must be a whole number, got "${raw}"`, command);
      return Number(raw);
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${rawName} must be a number, got "${raw}"`, command);
      return n;
    }
    case 'format': {
      // "jpg" is what people type (and the extension); the API calls it jpeg.
      const format = raw.toLowerCase() === 'jpg' ? 'jpeg' : raw.toLowerCase();
      if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`${rawName} must be png, jpeg or webp, got "${raw}"`, command);
      return format as ImageFormat;
    }
    default:
      return raw;
  }
}

/**
 * Parses one command's words against its options and positional arguments. `--help` wins over
 * every other mistake, so `zimage generate --help` works without a prompt.
 */
export function parseCommand(command: string, keys: readonly OptionKey[], positional: readonly ArgSpec[], argv: string[]): Parsed {
  const byName = new Map<string, OptionKey>();
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const key of keys) {
    const spec = SPECS[key];
    byName.set(spec.long, key);
    config[spec.long] = { type: spec.kind === 'bool' ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}) };
  }
  // strict: false so that the table, not parseArgs, words the errors (and names the command).
  const { tokens } = parseArgs({ args: argv, options: config, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && byName.get(t.name) === 'help')) return { values: {}, args: {}, help: true };

  const values: Record<string, unknown> = {};
  const words: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') words.push(token.value);
    if (token.kind !== 'option') continue;
    const key = byName.get(token.name);
    if (!key) throw new UsageError(`unknown option ${token.rawName}`, command);
    const spec = SPECS[key];
    if (spec.kind === 'bool') {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value (got "${token.value}")`, command);
      values[key] = true;
      continue;
    }
    // parseArgs takes the next word as the value even when it is another option
    // (`--size --seed 3`): almost always a forgotten value, so say so. Negative numbers pass.
    const missing = token.value === undefined
      || (!token.inlineValue && token.value.startsWith('-') && token.value !== '-' && !/^-\d/.test(token.value));
    if (missing) {
      throw new UsageError(`${token.rawName} needs a value (${flagLabel(spec)}); for one that starts with "-", write --${spec.long}=VALUE`, command);
    }
    values[key] = convert(key, token.value!, token.rawName, command);
  }

  const args: Record<string, string> = {};
  positional.forEach((arg, i) => {
    if (words[i] === undefined) throw new UsageError(`missing <${arg.name}>: ${arg.doc}`, command);
    args[arg.name] = words[i];
  });
  if (words.length > positional.length) {
    const extra = words[positional.length];
    const hint = positional.some((a) => a.name === 'prompt')
      ? ' (quote the prompt as one argument: "a cat on a rug"; options start with -, e.g. -o out.png)'
      : '';
    throw new UsageError(`unexpected argument "${extra}"${hint}`, command);
  }
  return { values: values as Values, args, help: false };
}
