/**
 * What a client call can fail with. Every failure is one of these, so callers (the CLI, the
 * MCP server, the playground) can say what went wrong and what to do without parsing text.
 */
import type { ErrorDetail } from './types.js';

export class ZImageError extends Error {
  override name = 'ZImageError';
}

/** The server answered with an error: its documented `{"error": …}` shape, kept whole. */
export class ApiResponseError extends ZImageError {
  override name = 'ApiResponseError';
  readonly code: string;
  readonly type: string;
  readonly param: string | null;

  constructor(
    readonly status: number,
    readonly detail: ErrorDetail,
    /** Seconds the server asks to wait before retrying (Retry-After), if it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(detail.message);
    this.code = detail.code;
    this.type = detail.type;
    this.param = detail.param ?? null;
  }
}

/** No answer: the server is down, the address is wrong, or it did not answer in time. */
export class ServerUnreachableError extends ZImageError {
  override name = 'ServerUnreachableError';

  constructor(readonly url: string, reason: string, options?: { cause?: unknown }) {
    super(`Cannot reach the Z-Image server at ${url}: ${reason}. Is it running? Point the client at it with --url or ZIMAGE_URL.`, options);
  }
}

/** The caller's AbortSignal fired. */
export class AbortedError extends ZImageError {
  override name = 'AbortedError';

  constructor() {
    super('The request was aborted.');
  }
}

/** A network error's most telling reason: Node's fetch hides the code ("ECONNREFUSED") in `cause`. */
export function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code === 'ECONNREFUSED' ? 'connection refused' : `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return cause?.message ?? (err as Error)?.message ?? String(err);
}
