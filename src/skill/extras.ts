/**
 * The "Optional extras" section of the skill document: abilities beyond the seed
 * contract, each described only when this server has the route (see features.ts).
 */
import { block, curl, EDIT_PROMPT, GENERATE_PROMPT, jsonBlock } from './curl.js';
import type { SkillDocInput } from './skillDoc.js';

type Headers = Array<[string, string]>;

export const EXAMPLE_WEBHOOK_URL = 'https://your-server.example/zimage-hook';

function openaiSection(input: SkillDocInput, headers: Headers): string[] {
  const { baseUrl: base, features: f, config } = input;
  const lines = [
    '### OpenAI-compatible endpoints',
    `For OpenAI SDKs and tools: set their base URL to \`${base}/v1\`. These hold the request open until the image is ready ` +
      `(up to ${config.syncTimeoutSeconds} seconds, then HTTP 504 with the task id to poll), so agents should prefer the 2-step workflow above.`,
    '',
  ];
  if (f.openaiGenerations) {
    lines.push('**POST** `/v1/images/generations`', '',
      ...block('bash', curl(`${base}/v1/images/generations`, { headers, json: { prompt: GENERATE_PROMPT, size: '1024x1024' } })), '');
  }
  if (f.openaiEdits) {
    lines.push('**POST** `/v1/images/edits` (multipart, like Option B)', '',
      ...block('bash', curl(`${base}/v1/images/edits`, { headers, form: [['image', '@cat.png'], ['prompt', EDIT_PROMPT]] })), '');
  }
  lines.push('**Response:**', ...jsonBlock({ created: 1767225600, data: [{ b64_json: 'iVBORw0KGgo...' }] }),
    'These answer like current OpenAI image models: each `data` item has the image as `b64_json` (base64 PNG); with ' +
      '`"response_format": "url"` it has a `url` to download instead. `"stream": true` answers OpenAI\'s image event stream.');
  return lines;
}

export function extrasSection(input: SkillDocInput, headers: Headers): string[] {
  const { baseUrl: base, features: f } = input;
  const parts: string[][] = [];

  if (f.longPoll) {
    parts.push([
      '### Wait instead of polling (long-poll)',
      `Add \`?${f.longPoll.param}=SECONDS\` (up to ${f.longPoll.maxSeconds}) to the Step 2 URL: the answer comes as soon as the task finishes, ` +
        'or after that many seconds with `"status": "processing"` as usual. Fewer requests, same answers.',
      '',
      ...block('bash', curl(`${base}/v1/images/tasks/{task_id}?${f.longPoll.param}=${Math.min(f.longPoll.maxSeconds, 30)}`, { headers })),
    ]);
  }
  if (f.events) {
    parts.push([
      '### Live progress (Server-Sent Events)',
      'Instead of polling you can hold one connection open. It streams `text/event-stream` events whose `data` is the task JSON ' +
        'as Step 2 answers it: `state` at once, then `position`, `started` and `progress` as the task moves, and finally one ' +
        '`completed`, `failed` or `canceled` event, after which the stream ends.',
      '',
      ...block('bash', curl(`${base}${f.events.path}`, { headers, stream: true })),
    ]);
  }
  if (f.cancel) {
    parts.push([
      '### Cancel a task',
      'If the user changes their mind: a queued task is canceled at once; a running one stops within a step ' +
        '(HTTP 202 with `"cancel_requested": true` if it has not stopped yet). A task that already finished answers HTTP 409.',
      '',
      ...block('bash', curl(`${base}${f.cancel.path}`, { headers, method: f.cancel.method as 'POST' | 'DELETE' })),
      '',
      '**Response:**',
      ...jsonBlock({ task_id: '8b9cad0e1f20', status: 'canceled' }),
    ]);
  }
  if (f.list) {
    parts.push([
      '### List your tasks',
      'Newest first; filter with `?status=processing` (or completed, failed, canceled), page with `?limit=` and `?cursor=` (the previous `next_cursor`).',
      '',
      ...block('bash', curl(`${base}${f.list.path}`, { headers })),
      '',
      '**Response:**',
      ...jsonBlock({ object: 'list', data: [{ task_id: '8b9cad0e1f20', status: 'completed' }], has_more: false }),
    ]);
  }
  if (f.webhooks) {
    parts.push([
      '### Webhooks',
      'Add `"webhook_url"` (an http(s) URL you control) to the Step 1 body: when the task finishes, the server POSTs the final task ' +
        '(the same JSON as Step 2) to it, signed with the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`). ' +
        'Failed deliveries are retried; the task\'s `webhook` field shows how delivery stands. Polling still works as a fallback.',
      '',
      ...block('bash', curl(`${base}/v1/images/async_generate`, {
        headers, json: { prompt: GENERATE_PROMPT, webhook_url: EXAMPLE_WEBHOOK_URL },
      })),
    ]);
  }
  if (f.idempotency) {
    parts.push([
      '### Safe retries (Idempotency-Key)',
      'If a submit times out and you are not sure it arrived, send it again with the same `Idempotency-Key` header: ' +
        'you get the first task back instead of a second one.',
      '',
      ...block('bash', curl(`${base}/v1/images/async_generate`, {
        headers: [...headers, ['Idempotency-Key', 'cat-on-rug-1']], json: { prompt: GENERATE_PROMPT },
      })),
    ]);
  }
  if (f.openaiGenerations || f.openaiEdits) parts.push(openaiSection(input, headers));
  if (parts.length === 0) return [];
  return ['## Optional extras', '', ...parts.flatMap((p) => [...p, ''])];
}
