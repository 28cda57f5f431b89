/**
 * All configuration, validated in one place. Each option is an environment variable
 * and a `zimage serve` flag (flag wins). The README's configuration table mirrors OPTIONS;
 * `zimage serve --help` prints it from here.
 */
import path from 'node:path';

type Kind = 'string' | 'int' | 'number' | 'bool' | 'enum';

interface OptionSpec {
  env: string;
  flag: string;
  kind: Kind;
  default: string;
  values?: readonly string[];
  min?: number;
  max?: number;
  doc: string;
}

export const OPTIONS = {
  port: { env: 'PORT', flag: '--port', kind: 'int', default: '8003', min: 0, max: 65535, doc: 'TCP port to listen on.' },
  host: { env: 'HOST', flag: '--host', kind: 'string', default: '0.0.0.0', doc: 'Address to bind.' },
  dataDir: {
    env: 'ZIMAGE_DATA_DIR', flag: '--data-dir', kind: 'string', default: './data',
    doc: 'Directory for the SQLite database, uploads and output images.',
  },
  engine: {
    env: 'ZIMAGE_ENGINE', flag: '--engine', kind: 'enum', default: 'auto', values: ['auto', 'synthetic', 'diffusers'],
    doc: '`diffusers` (real model, needs GPU setup), `synthetic` (labelled test patterns), or `auto` (diffusers where it can load, else synthetic with a warning).',
  },
  publicUrl: {
    env: 'ZIMAGE_PUBLIC_URL', flag: '--public-url', kind: 'string', default: '',
    doc: 'Base URL for returned image URLs (e.g. https://img.example.com). Empty: derived from each request\'s Host header.',
  },
  syntheticStepMs: {
    env: 'ZIMAGE_SYNTHETIC_STEP_MS', flag: '--synthetic-step-ms', kind: 'int', default: '110', min: 0, max: 60000,
    doc: 'Synthetic engine time per denoising step (9 steps ≈ 1 s per image). 0 for tests and benchmarks.',
  },
  worker: {
    env: 'ZIMAGE_WORKER', flag: '--worker', kind: 'bool', default: 'true',
    doc: 'Run the engine worker in this process. `--no-worker` serves the API only.',
  },
  maxAttempts: {
    env: 'ZIMAGE_MAX_ATTEMPTS', flag: '--max-attempts', kind: 'int', default: '3', min: 1, max: 100,
    doc: 'Times a task is tried (a crash or restart mid-run counts) before it fails with `attempts_exhausted`.',
  },
  leaseSeconds: {
    env: 'ZIMAGE_LEASE_SECONDS', flag: '--lease-seconds', kind: 'int', default: '60', min: 2, max: 86400,
    doc: 'A running task whose worker sends no heartbeat for this long is handed to another worker.',
  },
  taskTimeoutSeconds: {
    env: 'ZIMAGE_TASK_TIMEOUT_SECONDS', flag: '--task-timeout-seconds', kind: 'int', default: '600', min: 1, max: 86400,
    doc: 'A single engine run longer than this is stopped and the task fails with `timeout`.',
  },
  maxQueue: {
    env: 'ZIMAGE_MAX_QUEUE', flag: '--max-queue', kind: 'int', default: '1000', min: 1, max: 10_000_000,
    doc: 'Queued tasks accepted before new submissions get 503 `queue_full` with Retry-After.',
  },
  maxUploadMb: {
    env: 'ZIMAGE_MAX_UPLOAD_MB', flag: '--max-upload-mb', kind: 'number', default: '20', min: 0.01, max: 1024,
    doc: 'Largest accepted upload (image or mask), in MiB; larger answers 413.',
  },
  maxInputPixels: {
    env: 'ZIMAGE_MAX_INPUT_PIXELS', flag: '--max-input-pixels', kind: 'int', default: '25000000', min: 1, max: 1_000_000_000,
    doc: 'Uploaded images whose header claims more pixels are rejected before decoding.',
  },
  retentionHours: {
    env: 'ZIMAGE_RETENTION_HOURS', flag: '--retention-hours', kind: 'number', default: '168', min: 0.001, max: 1e6,
    doc: 'Finished tasks and their images are deleted after this many hours; polling one then answers `expired`.',
  },
  logLevel: {
    env: 'ZIMAGE_LOG_LEVEL', flag: '--log-level', kind: 'enum', default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'Log level (JSON lines on stdout).',
  },
} satisfies Record<string, OptionSpec>;

type Options = typeof OPTIONS;
type ValueOf<S> = S extends { kind: 'int' | 'number' } ? number : S extends { kind: 'bool' } ? boolean : string;
export type Config = { [K in keyof Options]: ValueOf<Options[K]> };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function parseValue(key: string, spec: OptionSpec, raw: string, source: string): unknown {
  const where = `${source} (${key})`;
  switch (spec.kind) {
    case 'string':
      return raw;
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(`${where} must be true or false, got "${raw}"`);
    }
    case 'enum':
      if (!spec.values!.includes(raw)) throw new ConfigError(`${where} must be one of ${spec.values!.join(', ')}; got "${raw}"`);
      return raw;
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) {
        throw new ConfigError(`${where} must be ${spec.kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
      }
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw new ConfigError(`${where} must be between ${spec.min} and ${spec.max}, got ${n}`);
      }
      return n;
    }
  }
}

/** Builds the configuration from environment variables, then flags (`--port 9000`, `--port=9000`, `--no-worker`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: string[] = []): Config {
  const specs = OPTIONS as Record<string, OptionSpec>;
  const byFlag = new Map(Object.entries(specs).map(([k, s]) => [s.flag, k]));
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const fromEnv = env[spec.env];
    values[key] = parseValue(key, spec, fromEnv ?? spec.default, fromEnv === undefined ? 'default' : spec.env);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name.startsWith('--no-') && byFlag.has(`--${name.slice(5)}`)) {
      const key = byFlag.get(`--${name.slice(5)}`)!;
      if (specs[key].kind !== 'bool') throw new ConfigError(`${name} is not a switch; use --${name.slice(5)} VALUE`);
      values[key] = false;
      continue;
    }
    const key = byFlag.get(name);
    if (!key) throw new ConfigError(`unknown option ${name}; run "zimage serve --help" for the list`);
    const spec = specs[key];
    let raw = inline;
    if (raw === undefined) {
      if (spec.kind === 'bool' && (argv[i + 1] === undefined || argv[i + 1].startsWith('--'))) raw = 'true';
      else raw = argv[++i];
    }
    if (raw === undefined) throw new ConfigError(`${name} needs a value`);
    values[key] = parseValue(key, spec, raw, name);
  }
  const config = values as Config;
  config.dataDir = path.resolve(config.dataDir);
  if (config.publicUrl) {
    try {
      const u = new URL(config.publicUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      throw new ConfigError(`ZIMAGE_PUBLIC_URL must be an http(s) URL, got "${config.publicUrl}"`);
    }
    config.publicUrl = config.publicUrl.replace(/\/+$/, '');
  }
  return config;
}

/** Help text for `zimage serve --help`, from the same table. */
export function optionsHelp(): string {
  return Object.values(OPTIONS as Record<string, OptionSpec>)
    .map((s) => `  ${s.flag.padEnd(26)} ${s.env.padEnd(28)} default: ${s.default || '(empty)'}\n      ${s.doc}`)
    .join('\n');
}
