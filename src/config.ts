/**
 * All configuration, validated in one place. Each option is an environment variable
 * and a `zimage serve` flag (flag wins). The README's configuration table mirrors OPTIONS;
 * `zimage serve --help` prints it from here.
 */
import path from 'node:path';
import { isS3Url, parseS3Url } from './storage/s3Url.js';

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
  storage: {
    env: 'ZIMAGE_STORAGE', flag: '--storage', kind: 'string', default: '',
    doc: 'Where output images and uploads live: a directory (may be a mount shared by several processes) or `s3://bucket/prefix`. Empty: `<data dir>`.',
  },
  s3Endpoint: {
    env: 'ZIMAGE_S3_ENDPOINT', flag: '--s3-endpoint', kind: 'string', default: '',
    doc: 'S3 storage: endpoint URL of an S3-compatible server (e.g. http://minio:9000). Empty: AWS. Credentials come from the usual AWS_* variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...).',
  },
  s3Region: {
    env: 'ZIMAGE_S3_REGION', flag: '--s3-region', kind: 'string', default: 'us-east-1',
    doc: 'S3 storage: the bucket\'s region.',
  },
  s3ForcePathStyle: {
    env: 'ZIMAGE_S3_FORCE_PATH_STYLE', flag: '--s3-force-path-style', kind: 'bool', default: 'false',
    doc: 'S3 storage: address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key` (most S3-compatible servers need this).',
  },
  s3Checksums: {
    env: 'ZIMAGE_S3_CHECKSUMS', flag: '--s3-checksums', kind: 'enum', default: 'when_supported', values: ['when_supported', 'when_required'],
    doc: 'S3 storage: send and check the SDK\'s CRC32 checksums on every request (`when_supported`), or only where S3 requires one (`when_required`: for S3-compatible servers that reject or mishandle the newer checksum headers).',
  },
  outputsRedirect: {
    env: 'ZIMAGE_OUTPUTS_REDIRECT', flag: '--outputs-redirect', kind: 'bool', default: 'false',
    doc: 'S3 storage: `/outputs/{file}` answers 302 to a presigned S3 URL instead of streaming the image through this server. Ignored for directory storage.',
  },
  presignSeconds: {
    env: 'ZIMAGE_PRESIGN_SECONDS', flag: '--presign-seconds', kind: 'int', default: '3600', min: 1, max: 604800,
    doc: 'How long a presigned URL from ZIMAGE_OUTPUTS_REDIRECT stays valid (S3 allows at most 7 days).',
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
    env: 'ZIMAGE_SYNTHETIC_STEP_MS', flag: '--synthetic-step-ms', kind: 'int', default: '120', min: 0, max: 60000,
    doc: 'Synthetic engine time per denoising step (8 steps + encoding ≈ 1 s per 1024×1024 image). 0 for tests and benchmarks.',
  },
  previewEvery: {
    env: 'ZIMAGE_PREVIEW_EVERY', flag: '--preview-every', kind: 'int', default: '2', min: 0, max: 1000,
    doc: 'Live previews: every this many denoising steps a running task shows a small (≤ 256 px, WebP) picture of the unfinished image, as a `preview` event on its event stream and as `preview` on its poll answer (OpenAI `partial_images` come from them). Cheap (diffusers: a linear latent-to-RGB projection, never a VAE decode), at most about 10 a second per task, never stored. 0 turns them off. Set on the process that runs the engine.',
  },
  worker: {
    env: 'ZIMAGE_WORKER', flag: '--worker', kind: 'bool', default: 'true',
    doc: 'Run an engine worker in this process. `--no-worker` serves the API only: in a fleet, `zimage worker` processes run the tasks; embedded, tasks wait in the queue until the server runs with a worker again (the SQLite queue belongs to one process).',
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
  maxConcurrentUploads: {
    env: 'ZIMAGE_MAX_CONCURRENT_UPLOADS', flag: '--max-concurrent-uploads', kind: 'int', default: '8', min: 1, max: 100_000,
    doc: 'Uploads (edit requests with an image, large MCP calls) held in memory at once; each holds its slot until it is answered (a synchronous /v1/images/edits until its image is ready). More wait unread for up to ZIMAGE_STALL_TIMEOUT_SECONDS, then get 503 `server_busy` with Retry-After. Memory for uploads stays below about this × 2 × ZIMAGE_MAX_UPLOAD_MB.',
  },
  maxConnections: {
    env: 'ZIMAGE_MAX_CONNECTIONS', flag: '--max-connections', kind: 'int', default: '1000', min: 1, max: 1_000_000,
    doc: 'Open client connections at most. At the cap a new connection closes the one idle longest, or is refused when none is idle. Keep it well below the open-file limit (`ulimit -n`): the worker needs file descriptors too.',
  },
  keepAliveTimeoutSeconds: {
    env: 'ZIMAGE_KEEP_ALIVE_TIMEOUT_SECONDS', flag: '--keep-alive-timeout-seconds', kind: 'number', default: '5', min: 0.1, max: 3600,
    doc: 'An idle keep-alive connection is closed after this many seconds. Behind a proxy or load balancer that keeps connections to this server open, set it above the proxy\'s idle timeout (e.g. 65 behind an AWS ALB), so the server never closes a connection the proxy is about to reuse.',
  },
  requestTimeoutSeconds: {
    env: 'ZIMAGE_REQUEST_TIMEOUT_SECONDS', flag: '--request-timeout-seconds', kind: 'number', default: '120', min: 1, max: 86400,
    doc: 'A request\'s headers and body must have arrived within this many seconds (an upload of ZIMAGE_MAX_UPLOAD_MB needs a client that sends that fast), else it is answered 408 and its connection closed. Answers that take long (sync waits, long polls, event streams) are not limited by it.',
  },
  stallTimeoutSeconds: {
    env: 'ZIMAGE_STALL_TIMEOUT_SECONDS', flag: '--stall-timeout-seconds', kind: 'number', default: '20', min: 0.2, max: 3600,
    doc: 'A client that sends nothing more of a request it has begun (its headers must be complete within this time, a body must keep arriving) or reads nothing of an answer waiting for it, for this many seconds, is disconnected and what it held is freed. A new connection must send its first request within it, and an upload waits at most this long for a free slot.',
  },
  retentionHours: {
    env: 'ZIMAGE_RETENTION_HOURS', flag: '--retention-hours', kind: 'number', default: '168', min: 0.001, max: 1e6,
    doc: 'Finished tasks\' images, uploads and prompts are deleted after this many hours; polling such a task then answers `failed` with code `expired` (for 30 more days, then 404).',
  },
  minFreeMb: {
    env: 'ZIMAGE_MIN_FREE_MB', flag: '--min-free-mb', kind: 'number', default: '100', min: 0, max: 1e7,
    doc: 'Free space (MiB) on the data directory and a storage directory below which this server counts its storage as full: submits answer 507 `storage_full` with Retry-After, the worker waits instead of running tasks it could not store, and `/health` says `storage.full`. Reads keep working, accepted tasks are kept, and all of it resumes by itself once space returns. 0: full only when a write fails for lack of space.',
  },
  orphanSweep: {
    env: 'ZIMAGE_ORPHAN_SWEEP', flag: '--orphan-sweep', kind: 'bool', default: 'true',
    doc: 'Hourly, delete stored images and uploads older than an hour that no task names (left by a crash between writing files and recording the task). The storage must then belong to this server\'s tasks alone (one data directory, or one fleet database): turn it off where servers with separate databases share one storage.',
  },
  shutdownGraceSeconds: {
    env: 'ZIMAGE_SHUTDOWN_GRACE_SECONDS', flag: '--shutdown-grace-seconds', kind: 'number', default: '10', min: 0, max: 3600,
    doc: 'On SIGTERM/SIGINT the running task may finish for this long; then it is stopped and handed back to the queue (no attempt spent).',
  },
  logLevel: {
    env: 'ZIMAGE_LOG_LEVEL', flag: '--log-level', kind: 'enum', default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'Log level (lines on stdout, see ZIMAGE_LOG_FORMAT).',
  },
  logFormat: {
    env: 'ZIMAGE_LOG_FORMAT', flag: '--log-format', kind: 'enum', default: 'auto', values: ['auto', 'json', 'pretty'],
    doc: 'Log lines as `json` (one object a line, for journald, Docker and log shippers) or `pretty` (one readable line each, colored). `auto`: pretty when stdout is a terminal, else JSON.',
  },
  accessLog: {
    env: 'ZIMAGE_ACCESS_LOG', flag: '--access-log', kind: 'bool', default: 'true',
    doc: 'Log one line per HTTP request: method, route, status, milliseconds, request id (`X-Request-Id`, taken from the request when it is a sane token, else made; echoed on every answer) and the task id where there is one. At high poll rates these lines dominate the log: turn them off there (the HTTP metrics still count every request).',
  },
  metrics: {
    env: 'ZIMAGE_METRICS', flag: '--metrics', kind: 'enum', default: 'loopback', values: ['loopback', 'open', 'off'],
    doc: '`GET /metrics` (Prometheus). `loopback`: open to callers on this machine; any other caller needs one of the API keys (ZIMAGE_API_KEYS, ZIMAGE_API_KEYS_FILE), and is refused (403) when the server has none. `open`: anyone. `off`: no /metrics. A request forwarded by a proxy (Forwarded / X-Forwarded-For) never counts as loopback.',
  },
  model: {
    env: 'ZIMAGE_MODEL', flag: '--model', kind: 'string', default: 'Tongyi-MAI/Z-Image-Turbo',
    doc: 'Diffusers engine: Hugging Face model id or local directory. Cached files are used first, so it works offline once downloaded.',
  },
  editModel: {
    env: 'ZIMAGE_EDIT_MODEL', flag: '--edit-model', kind: 'string', default: '',
    doc: 'Diffusers engine: separate model for edits (loaded with its own pipeline). Empty: edits reuse ZIMAGE_MODEL\'s weights.',
  },
  modelVariant: {
    env: 'ZIMAGE_MODEL_VARIANT', flag: '--model-variant', kind: 'enum', default: 'auto', values: ['auto', 'turbo', 'base'],
    doc: 'Per-model defaults: `turbo` (8 steps, guidance 0) or `base` (50 steps, guidance 4). `auto`: turbo when the model name says so.',
  },
  device: {
    env: 'ZIMAGE_DEVICE', flag: '--device', kind: 'string', default: 'cuda',
    doc: 'Diffusers engine device: cuda, cuda:N, mps or cpu.',
  },
  python: {
    env: 'ZIMAGE_PYTHON', flag: '--python', kind: 'string', default: '',
    doc: 'Python interpreter for the diffusers worker. Empty: .venv/bin/python in the package (made by `npm run setup:gpu`) if present, else python3.',
  },
  offload: {
    env: 'ZIMAGE_OFFLOAD', flag: '--offload', kind: 'enum', default: 'auto', values: ['auto', 'none', 'model', 'sequential'],
    doc: 'CPU offload: `none` (all on the GPU, ~24 GB), `model` (one component at a time, ~16 GB), `sequential` (layer by layer, slowest). `auto` picks by free VRAM.',
  },
  compile: {
    env: 'ZIMAGE_COMPILE', flag: '--compile', kind: 'bool', default: 'false',
    doc: 'torch.compile the transformer blocks (regional compile: slower start, faster steps; new sizes or batch shapes may recompile).',
  },
  attention: {
    env: 'ZIMAGE_ATTENTION', flag: '--attention', kind: 'enum', default: 'sdpa', values: ['sdpa', 'flash', '_flash_3'],
    doc: 'Attention backend: PyTorch SDPA, flash-attn 2 (`flash`) or flash-attn 3 (`_flash_3`; Hopper). flash needs the flash-attn package.',
  },
  vaeTiling: {
    env: 'ZIMAGE_VAE_TILING', flag: '--vae-tiling', kind: 'enum', default: 'auto', values: ['auto', 'on', 'off'],
    doc: 'Decode the VAE in tiles to save memory. `auto`: on above 1.5 MP (1536×1024) or with sequential offload.',
  },
  cfgNormalization: {
    env: 'ZIMAGE_CFG_NORMALIZATION', flag: '--cfg-normalization', kind: 'bool', default: 'false',
    doc: 'Base model: pass cfg_normalization=True to the pipeline (caps the norm of guided predictions). Ignored without guidance.',
  },
  warmup: {
    env: 'ZIMAGE_WARMUP', flag: '--warmup', kind: 'bool', default: 'true',
    doc: 'Run a tiny generation after loading (initialises kernels, detects the diffusers step semantics) before reporting ready.',
  },
  randomWeights: {
    env: 'ZIMAGE_RANDOM_WEIGHTS', flag: '--random-weights', kind: 'bool', default: 'false',
    doc: 'Benchmarks only: build the real architecture with random weights instead of loading a model (images are noise).',
  },
  engineStartTimeoutSeconds: {
    env: 'ZIMAGE_ENGINE_START_TIMEOUT_SECONDS', flag: '--engine-start-timeout-seconds', kind: 'int', default: '1800', min: 1, max: 86400,
    doc: 'Longest model load (including a first download and warm-up) before the worker is killed and the engine reports `error`.',
  },
  engineStallSeconds: {
    env: 'ZIMAGE_ENGINE_STALL_SECONDS', flag: '--engine-stall-seconds', kind: 'int', default: '300', min: 0, max: 86400,
    doc: 'A running job with no step finished for this long means a hung worker: it is killed, restarted and the task retried. 0 disables.',
  },
  engineCancelGraceSeconds: {
    env: 'ZIMAGE_ENGINE_CANCEL_GRACE_SECONDS', flag: '--engine-cancel-grace-seconds', kind: 'number', default: '30', min: 0.05, max: 3600,
    doc: 'After a cancel or task timeout, how long the worker may take to stop before it is killed and restarted.',
  },
  engineRestartBackoffSeconds: {
    env: 'ZIMAGE_ENGINE_RESTART_BACKOFF_SECONDS', flag: '--engine-restart-backoff-seconds', kind: 'number', default: '1', min: 0, max: 3600,
    doc: 'First delay before restarting a crashed worker; doubles on each further crash (up to 60 s) until a job succeeds.',
  },
  apiKeys: {
    env: 'ZIMAGE_API_KEYS', flag: '--api-keys', kind: 'string', default: '',
    doc: 'API keys that /v1/* and /mcp require (`Authorization: Bearer KEY` or `X-API-Key: KEY`), as `name:key,name2:key2` or bare keys (named key-1, key-2, ...). Each caller sees only its own tasks. Empty: no auth.',
  },
  apiKeysFile: {
    env: 'ZIMAGE_API_KEYS_FILE', flag: '--api-keys-file', kind: 'string', default: '',
    doc: 'A file of API keys, one `name:key` a line (`#` starts a comment), used beside ZIMAGE_API_KEYS (names and keys must differ across both). Re-read on SIGHUP, so keys can be added or revoked without a restart; a file that does not parse then keeps the keys in use and logs an error. Set: auth is on, even while the file holds no key.',
  },
  maxQueuedPerKey: {
    env: 'ZIMAGE_MAX_QUEUED_PER_KEY', flag: '--max-queued-per-key', kind: 'int', default: '0', min: 0, max: 10_000_000,
    doc: 'Queued tasks one API key may have; past it that key\'s submits get 429 `too_many_queued` with Retry-After while other keys still submit (ZIMAGE_MAX_QUEUE stays the limit for all). Accepted tasks are never dropped. 0: no per-key limit. Needs auth (without keys every caller is the same one).',
  },
  rateLimit: {
    env: 'ZIMAGE_RATE_LIMIT', flag: '--rate-limit', kind: 'int', default: '0', min: 0, max: 10_000_000,
    doc: 'Requests a minute that one API key (or, without a key, one client address) may make; past it the answers are 429 `rate_limited` with Retry-After until the minute is over. Counted per server process; /health is not counted. Behind a proxy, client addresses are the proxy\'s. 0: no limit.',
  },
  syncTimeoutSeconds: {
    env: 'ZIMAGE_SYNC_TIMEOUT_SECONDS', flag: '--sync-timeout-seconds', kind: 'number', default: '300', min: 0.001, max: 86400,
    doc: 'How long the OpenAI-compatible /v1/images/generations and /v1/images/edits wait for their task. Past it they answer 504 `timeout` with the task id; the task keeps running and can be polled.',
  },
  mcpWaitSeconds: {
    env: 'ZIMAGE_MCP_WAIT_SECONDS', flag: '--mcp-wait-seconds', kind: 'number', default: '50', min: 0, max: 3600,
    doc: 'How long the MCP tools generate_image and edit_image (at `/mcp`; `zimage mcp` reads the same variable) wait for their images, sending progress, before answering the task id instead (get_task then fetches the images). Keep it below the MCP host\'s tool-call timeout (often 60 s).',
  },
  webhookSecret: {
    env: 'ZIMAGE_WEBHOOK_SECRET', flag: '--webhook-secret', kind: 'string', default: '',
    doc: 'Key that signs webhook deliveries (Standard Webhooks `webhook-signature`): `whsec_<base64>` (the decoded bytes are the key) or any other string (its bytes). Empty: a random one is generated once and kept in `<data dir>/webhook-secret` (mode 0600). Required in fleet mode (every API node must sign with the same key).',
  },
  webhookAllowPrivate: {
    env: 'ZIMAGE_WEBHOOK_ALLOW_PRIVATE', flag: '--webhook-allow-private', kind: 'bool', default: 'false',
    doc: 'Allow `webhook_url` targets on loopback, private, link-local, unique-local, CGNAT and the other addresses that IANA marks as not globally reachable (documentation, benchmarking, Teredo, IPv4-mapped, ...). Off: they are refused (a literal IP at submit with 400, a host name resolving there at delivery), so clients cannot make the server call into its own network.',
  },
  webhookMaxAttempts: {
    env: 'ZIMAGE_WEBHOOK_MAX_ATTEMPTS', flag: '--webhook-max-attempts', kind: 'int', default: '8', min: 1, max: 50,
    doc: 'Webhook delivery attempts before the delivery is marked failed. Retries follow network errors, timeouts and non-2xx answers, about 5 s, 25 s, 2 min, 10 min, 52 min, then hourly apart (±20 %).',
  },
  webhookTimeoutSeconds: {
    env: 'ZIMAGE_WEBHOOK_TIMEOUT_SECONDS', flag: '--webhook-timeout-seconds', kind: 'number', default: '10', min: 0.1, max: 300,
    doc: 'A webhook receiver that has not answered within this many seconds (DNS, connect and response) counts as a failed attempt.',
  },
  databaseUrl: {
    env: 'ZIMAGE_DATABASE_URL', flag: '--database-url', kind: 'string', default: '',
    doc: 'Fleet mode: PostgreSQL URL (`postgres://user:pass@host/db`) for task records, idempotency keys and webhook deliveries. Set together with ZIMAGE_REDIS_URL; both empty is the embedded mode (SQLite in the data directory).',
  },
  redisUrl: {
    env: 'ZIMAGE_REDIS_URL', flag: '--redis-url', kind: 'string', default: '',
    doc: 'Fleet mode: Redis URL (`redis://host:6379`) for BullMQ dispatch tickets, cross-node events and the worker registry. Set `maxmemory-policy noeviction` on that Redis.',
  },
  redisPrefix: {
    env: 'ZIMAGE_REDIS_PREFIX', flag: '--redis-prefix', kind: 'string', default: 'zimage',
    doc: 'Fleet mode: prefix of every Redis key, so several fleets (say staging and production) can share one Redis. All nodes of a fleet must use the same.',
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
  checkMode(config);
  checkStorage(config);
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

/** Fleet mode needs both services; one without the other is a mistake worth stopping for. */
function checkMode(config: Config): void {
  if (config.databaseUrl && !config.redisUrl) {
    throw new ConfigError('ZIMAGE_DATABASE_URL is set but ZIMAGE_REDIS_URL is not: fleet mode needs both (Postgres for task records, Redis for dispatch and events). Set ZIMAGE_REDIS_URL, or unset ZIMAGE_DATABASE_URL for the embedded mode.');
  }
  if (config.redisUrl && !config.databaseUrl) {
    throw new ConfigError('ZIMAGE_REDIS_URL is set but ZIMAGE_DATABASE_URL is not: fleet mode needs both (Postgres for task records, Redis for dispatch and events). Set ZIMAGE_DATABASE_URL, or unset ZIMAGE_REDIS_URL for the embedded mode.');
  }
  if (config.databaseUrl && !/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new ConfigError(`ZIMAGE_DATABASE_URL must be a postgres:// URL, got "${config.databaseUrl.replace(/\/\/[^@/]*@/, '//…@')}"`);
  }
  if (config.redisUrl && !/^rediss?:\/\//.test(config.redisUrl)) {
    throw new ConfigError(`ZIMAGE_REDIS_URL must be a redis:// or rediss:// URL, got "${config.redisUrl.replace(/\/\/[^@/]*@/, '//…@')}"`);
  }
}

/** A directory is resolved like the data directory; an S3 URL must name a bucket, and a URL of any other scheme is a mistake. */
function checkStorage(config: Config): void {
  if (isS3Url(config.storage)) {
    try {
      parseS3Url(config.storage);
    } catch (err) {
      throw new ConfigError(`ZIMAGE_STORAGE: ${(err as Error).message}.`);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(config.storage)) {
    throw new ConfigError(`ZIMAGE_STORAGE must be a directory or an s3://bucket/prefix URL, got "${config.storage}". For another S3-compatible store use s3://BUCKET with ZIMAGE_S3_ENDPOINT set to its URL.`);
  } else if (config.storage) {
    config.storage = path.resolve(config.storage);
  }
  if (config.s3Endpoint && !/^https?:\/\/[^/]/.test(config.s3Endpoint)) {
    throw new ConfigError(`ZIMAGE_S3_ENDPOINT must be an http(s) URL such as http://127.0.0.1:9000, got "${config.s3Endpoint}"`);
  }
}

/** Help text for `zimage serve --help`, from the same table. */
export function optionsHelp(): string {
  return Object.values(OPTIONS as Record<string, OptionSpec>)
    .map((s) => `  ${s.flag.padEnd(26)} ${s.env.padEnd(28)} default: ${s.default || '(empty)'}\n      ${s.doc}`)
    .join('\n');
}

/**
 * ZIMAGE_* variables that zimage reads outside OPTIONS: the client CLI's and MCP's
 * (`zimage generate`, `zimage mcp`), and the diffusers worker's (passed through to Python).
 * Add a variable here when something new reads one, or startup reports it as unknown.
 */
export const OTHER_ENV: Record<string, string> = {
  ZIMAGE_URL: 'the client CLI and `zimage mcp`: the server to call',
  ZIMAGE_API_KEY: 'the client CLI and `zimage mcp`: the API key they send',
  ZIMAGE_PIPELINE_MODULE: 'the diffusers worker: which Python module drives the model (tests)',
  ZIMAGE_RANDOM_WEIGHTS_SIZE: 'the diffusers worker: `tiny` random-weight models (benchmarks)',
  ZIMAGE_HEARTBEAT_SECONDS: 'the diffusers worker: heartbeat interval (set by the server)',
};
/** Prefixes of variables for tests and benchmarks, never reported. */
const OTHER_ENV_PREFIXES = ['ZIMAGE_TEST_', 'ZIMAGE_BENCH_'];

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/**
 * What start-up should warn about in the environment: ZIMAGE_* variables that nothing reads
 * (a typo such as ZIMAGE_APIKEYS silently does nothing otherwise), with the closest known name;
 * and the clients' ZIMAGE_API_KEY set on a server whose auth is off (it reads ZIMAGE_API_KEYS).
 */
export function environmentWarnings(env: NodeJS.ProcessEnv, config?: Pick<Config, 'apiKeys' | 'apiKeysFile'>): string[] {
  const known = [...Object.values(OPTIONS as Record<string, OptionSpec>).map((s) => s.env), ...Object.keys(OTHER_ENV)];
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('ZIMAGE_') || known.includes(name) || OTHER_ENV_PREFIXES.some((p) => name.startsWith(p))) continue;
    const [best] = known.map((k) => ({ k, d: distance(name, k) })).sort((x, y) => x.d - y.d);
    const hint = best && best.d <= Math.max(2, Math.floor(name.length / 5)) ? ` Did you mean ${best.k}?` : '';
    warnings.push(`${name} is set, but no part of zimage reads it.${hint} "zimage serve --help" lists every variable.`);
  }
  if (config && env.ZIMAGE_API_KEY && !config.apiKeys.trim() && !config.apiKeysFile) {
    warnings.push('ZIMAGE_API_KEY is set, but that is the key clients send (zimage generate, zimage mcp); the server reads its keys from ' +
      'ZIMAGE_API_KEYS (name:key,name2:key2) or ZIMAGE_API_KEYS_FILE, and neither is set, so auth is off.');
  }
  return warnings;
}
