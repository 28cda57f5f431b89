/**
 * The typed client of Z-Image Server's public HTTP API: what the CLI, the playground, the
 * MCP server, the tests and the benchmarks talk through. It needs only `fetch` (Node ≥ 18,
 * any browser), works against a remote server, and sends the API key as a header, never in
 * a URL. Every failure is an ApiResponseError (the server said no), ServerUnreachableError
 * (no answer) or AbortedError (the caller's signal).
 */
import { AbortedError, ApiResponseError, networkReason, ServerUnreachableError } from './errors.js';
import { readSse } from './sse.js';
import type {
  Deleted, EditInput, GenerateParams, Health, ImageInput, ListQuery, ModelList, Submitted, Task, TaskImage, TaskList,
  TaskStreamEvent,
} from './types.js';

export const DEFAULT_URL = 'http://127.0.0.1:8003';

export interface ClientOptions {
  /** The server's base URL (default http://127.0.0.1:8003). */
  url?: string;
  /** Sent as `Authorization: Bearer …` to this server only (never to other hosts, such as presigned storage URLs). */
  apiKey?: string;
  /** How long one call may wait for an answer before ServerUnreachableError (default 30 s; a poll's ?wait is added). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface SubmitOptions extends CallOptions {
  /** Sending the same key again returns the first task instead of queueing another (safe retries). */
  idempotencyKey?: string;
}

export interface WaitOptions extends CallOptions {
  /** Give up waiting after this long and resolve with the task as it stands (still "processing"). */
  timeoutMs?: number;
  /** Every change: queue position, start, each step, the final state. */
  onUpdate?: (task: Task, event: TaskStreamEvent['event']) => void;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(done, ms);
  function done() {
    clearTimeout(timer);
    signal?.removeEventListener('abort', done);
    resolve();
  }
  signal?.addEventListener('abort', done);
});

/** Base64 to bytes, in Node (Buffer) or a browser (atob). */
function fromBase64(b64: string): Uint8Array {
  const NodeBuffer = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer;
  if (NodeBuffer) return new Uint8Array(NodeBuffer.from(b64, 'base64'));
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

const toBlob = (input: ImageInput): Blob =>
  input instanceof Blob ? input : new Blob([input instanceof Uint8Array ? new Uint8Array(input) : input]);

export class ZImageClient {
  readonly url: string;
  private readonly apiKey?: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: ClientOptions = {}) {
    this.url = (opts.url ?? DEFAULT_URL).replace(/\/+$/, '');
    this.apiKey = opts.apiKey || undefined;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  health(opts?: CallOptions): Promise<Health> {
    return this.json('GET', '/health', opts);
  }

  models(opts?: CallOptions): Promise<ModelList> {
    return this.json('GET', '/v1/models', opts);
  }

  /** Queues a generation; resolves once it is durably queued. Follow it with wait(). */
  generate(params: GenerateParams, opts: SubmitOptions = {}): Promise<Submitted> {
    return this.json('POST', '/v1/images/async_generate', opts, {
      body: JSON.stringify(params), headers: { 'content-type': 'application/json', ...idempotency(opts) },
    });
  }

  /** Queues an edit of `image` (multipart), optionally masked. */
  edit(input: EditInput, opts: SubmitOptions = {}): Promise<Submitted> {
    const { image, mask, ...fields } = input;
    const form = new FormData();
    form.append('image', toBlob(image), 'image');
    if (mask) form.append('mask', toBlob(mask), 'mask');
    for (const [key, value] of Object.entries(fields)) if (value !== undefined && value !== null) form.append(key, String(value));
    return this.json('POST', '/v1/images/async_edit', opts, { body: form, headers: idempotency(opts) });
  }

  /** The task now; with `wait` (seconds, up to 60) the answer comes as soon as it finishes. */
  get(id: string, opts: CallOptions & { wait?: number } = {}): Promise<Task> {
    const query = opts.wait ? `?wait=${opts.wait}` : '';
    return this.json('GET', `/v1/images/tasks/${encodeURIComponent(id)}${query}`, opts, {}, (opts.wait ?? 0) * 1000);
  }

  list(query: ListQuery = {}, opts?: CallOptions): Promise<TaskList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.json('GET', `/v1/images/tasks${qs ? `?${qs}` : ''}`, opts);
  }

  /** Every task matching the query, newest first, page by page. */
  async *tasks(query: Omit<ListQuery, 'cursor'> = {}, opts?: CallOptions): AsyncGenerator<Task> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...query, cursor }, opts);
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** Cancels a queued task at once, a running one within a step (then "cancel_requested": true). */
  cancel(id: string, opts?: CallOptions): Promise<Task> {
    return this.json('POST', `/v1/images/tasks/${encodeURIComponent(id)}/cancel`, opts);
  }

  /** Deletes a finished task and its images; cancels one still processing (answering the task). */
  delete(id: string, opts?: CallOptions): Promise<Deleted | Task> {
    return this.json('DELETE', `/v1/images/tasks/${encodeURIComponent(id)}`, opts);
  }

  /**
   * The task's events as they happen (GET …/events), ending after the final one. Each carries
   * the whole task. Resume a broken stream with the last event's id.
   */
  async *events(id: string, opts: CallOptions & { lastEventId?: string } = {}): AsyncGenerator<TaskStreamEvent> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (opts.lastEventId) headers['last-event-id'] = opts.lastEventId;
    // The timeout covers the answer's headers only: the stream itself may rightly last long.
    const res = await this.send('GET', `/v1/images/tasks/${encodeURIComponent(id)}/events`, opts, { headers }, 0, true);
    if (!res.body) return;
    try {
      for await (const message of readSse(res.body)) {
        yield { event: message.event as TaskStreamEvent['event'], id: message.id, task: JSON.parse(message.data) as Task };
      }
    } catch (err) {
      if (opts.signal?.aborted) throw new AbortedError();
      throw new ServerUnreachableError(this.url, `the event stream broke (${networkReason(err)})`, { cause: err });
    }
  }

  /**
   * Resolves with the task once it is final (completed, failed or canceled: check `status`),
   * or as it stands when `timeoutMs` passes. Follows the events stream, reconnecting (and
   * re-reading the task) when it breaks; gives up only after repeated network failures.
   */
  async wait(id: string, opts: WaitOptions = {}): Promise<Task> {
    const timeout = opts.timeoutMs !== undefined ? AbortSignal.timeout(opts.timeoutMs) : undefined;
    const signal = anySignal([opts.signal, timeout]);
    let lastEventId: string | undefined;
    let failures = 0;
    let latest: Task | undefined;
    const seen = (task: Task, event: TaskStreamEvent['event']) => {
      latest = task;
      opts.onUpdate?.(task, event);
      return task.status !== 'processing';
    };
    for (;;) {
      try {
        for await (const e of this.events(id, { signal, lastEventId })) {
          failures = 0;
          lastEventId = e.id ?? lastEventId;
          if (seen(e.task, e.event)) return e.task;
        }
        // The stream ended without a final event (a restarting server): the record decides.
        const task = await this.get(id, { signal });
        if (seen(task, task.status === 'processing' ? 'state' : (task.status as TaskStreamEvent['event']))) return task;
      } catch (err) {
        if (opts.signal?.aborted) throw new AbortedError();
        if (timeout?.aborted) return latest ?? await this.get(id);
        // A restarting or overloaded server is worth waiting for; a refusal (404, 401) is not.
        const transient = err instanceof ServerUnreachableError || (err instanceof ApiResponseError && err.status >= 500);
        if (!transient || ++failures > 5) throw err;
      }
      await sleep(Math.min(250 * 2 ** failures, 5000), signal);
      if (signal?.aborted) {
        if (opts.signal?.aborted) throw new AbortedError();
        return latest ?? await this.get(id);
      }
    }
  }

  /** The bytes of one result image: decoded from b64_json, or downloaded from its url. */
  async imageBytes(image: Pick<TaskImage, 'url' | 'b64_json'>, opts?: CallOptions): Promise<Uint8Array> {
    if (image.b64_json) return fromBase64(image.b64_json);
    if (!image.url) throw new Error('The image has neither a url nor b64_json.');
    return this.download(image.url, opts);
  }

  /** GETs a URL's bytes (an /outputs/ link, relative or absolute). */
  async download(url: string, opts?: CallOptions): Promise<Uint8Array> {
    const res = await this.send('GET', url, opts);
    return new Uint8Array(await res.arrayBuffer());
  }

  private async json<T>(method: string, path: string, opts?: CallOptions, init: RequestInit = {}, extraMs = 0): Promise<T> {
    const res = await this.send(method, path, opts, init, extraMs);
    return (await res.json()) as T;
  }

  /** One request: resolves with a 2xx response, else throws one of the client's errors. */
  private async send(method: string, path: string, opts: CallOptions = {}, init: RequestInit = {}, extraMs = 0, stream = false): Promise<Response> {
    const url = new URL(path, `${this.url}/`);
    const headers = new Headers(init.headers);
    // The key goes to this server only: never to another host (a presigned storage URL, say).
    if (this.apiKey && url.origin === new URL(this.url).origin) headers.set('authorization', `Bearer ${this.apiKey}`);
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), this.timeoutMs + extraMs);
    const signal = anySignal([opts.signal, timer.signal])!;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { ...init, method, headers, signal });
      if (!stream) await res.clone().arrayBuffer().catch(() => undefined); // the body within the timeout too
    } catch (err) {
      if (opts.signal?.aborted) throw new AbortedError();
      if (timer.signal.aborted) throw new ServerUnreachableError(this.url, `no answer within ${Math.round((this.timeoutMs + extraMs) / 1000)} s`);
      throw new ServerUnreachableError(this.url, networkReason(err), { cause: err });
    } finally {
      clearTimeout(timeout);
    }
    if (res.ok) return res;
    throw await errorOf(res);
  }
}

function idempotency(opts: SubmitOptions): Record<string, string> {
  return opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
}

/** A signal that fires when any of the given ones does. */
function anySignal(signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}

/** The server's error answer as an ApiResponseError; a non-JSON answer (a proxy's page) still gets one. */
async function errorOf(res: Response): Promise<ApiResponseError> {
  const text = await res.text().catch(() => '');
  const retry = Number(res.headers.get('retry-after'));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  try {
    const body = JSON.parse(text) as { error?: { message?: string; code?: string; type?: string; param?: string | null } };
    if (body.error?.message && body.error.code) {
      return new ApiResponseError(res.status, {
        message: body.error.message, code: body.error.code, type: (body.error.type ?? 'server_error') as never, param: body.error.param ?? null,
      }, retryAfter);
    }
  } catch {
    /* not JSON */
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ApiResponseError(res.status, {
    message: `The server answered HTTP ${res.status}${snippet ? `: ${snippet}` : ''}.`, code: `http_${res.status}`, type: 'server_error', param: null,
  }, retryAfter);
}
