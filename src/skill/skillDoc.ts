/**
 * The agent skill document served at GET /SKILL.md: the seed contract
 * (../shared/seed-skill-z_image.md) in its own words, so agents written against it keep
 * working, with this server's real base URL and what it can do filled in. A pure
 * function of the configuration, the base URL, the engine and the routes that exist;
 * test/http/skill.test.ts runs every example in it against a real server.
 */
import type { Config } from '../config.js';
import type { EngineState } from '../interfaces.js';
import { DEFAULT_SIZE, EditRequest, MAX_PROMPT_CHARS, SIZE_MAX, SIZE_MIN } from '../tasks/params.js';
import { AUTH_HEADER, block, curl, EDIT_PROMPT, GENERATE_PROMPT, jsonBlock } from './curl.js';
import { extrasSection } from './extras.js';
import type { SkillFeatures } from './features.js';

export interface SkillEngine {
  name: string;
  synthetic: boolean;
  state: EngineState;
}

export interface SkillDocInput {
  baseUrl: string;
  config: Pick<Config, 'maxUploadMb' | 'retentionHours' | 'syncTimeoutSeconds'>;
  /** Whether /v1/* requires an API key (ZIMAGE_API_KEYS). */
  auth: boolean;
  /** null on an API-only node (--no-worker). */
  engine: SkillEngine | null;
  features: SkillFeatures;
}

type Schema = Record<string, any>;

const consts = (s: Schema): string[] => (Array.isArray(s.anyOf) ? s.anyOf.map((v: Schema) => JSON.stringify(v.const)) : []);

/** One line per optional request field, from the schema that validates requests. */
function fieldLines(): string[] {
  const props = EditRequest.properties as Record<string, Schema>;
  return Object.entries(props).filter(([name]) => name !== 'prompt').map(([name, s]) => {
    const values = consts(s);
    const facts = [values.length ? `one of ${values.join(', ')}` : s.type];
    if (s.default !== undefined) facts.push(`default ${JSON.stringify(s.default)}`);
    if (!s.description && typeof s.minimum === 'number') facts.push(`${s.minimum} to ${s.maximum}`);
    const editOnly = name === 'strength' ? ' Edits only.' : '';
    return `- \`${name}\` (${facts.join(', ')})${s.description ? `: ${s.description}` : '.'}${editOnly}`;
  });
}

function engineLines(engine: SkillEngine | null): string[] {
  if (!engine) return ['-   **Engine**: none right now: tasks are accepted and wait in the queue until the server runs with its engine worker again.'];
  const model = engine.state.model ? ` (model \`${engine.state.model}\`)` : '';
  const state = engine.state.state === 'loading' ? 'loading (tasks wait in the queue until it is ready)'
    : engine.state.state === 'error' ? `failed to load: ${engine.state.message ?? 'see the server log'} (GET /health shows the engine's state)`
    : engine.state.state;
  const lines = [`-   **Engine**: \`${engine.name}\`${model}, ${state}`];
  if (engine.synthetic) {
    lines.push('-   **WARNING**: this server runs the *synthetic* test-pattern engine: its images are labelled test patterns, ' +
      'not pictures of the prompt. Tell the user so if you deliver one.');
  }
  return lines;
}

export function skillDoc(input: SkillDocInput): string {
  const { baseUrl: base, config, engine, auth } = input;
  const headers = auth ? [AUTH_HEADER] : [];
  const nMax = (EditRequest.properties.n as Schema).maximum as number;
  const out: string[] = [
    '---',
    'name: z_image',
    'description: Z-Image Vision Generator - Generate images from text prompts using an async polling queue.',
    '---',
    '',
    '# Z-Image Vision API Skill',
    '',
    'This API uses a background task queue. Generating images takes a few minutes, so you MUST use this 2-step polling process. DO NOT use the synchronous generation endpoints.',
    '',
    '## Server Details',
    '',
    `-   **Base URL**: \`${base}\``,
    ...engineLines(engine),
    ...(auth
      ? ['-   **Authentication**: every `/v1/...` request needs the header `Authorization: Bearer YOUR_API_KEY` ' +
        '(or `X-API-Key: YOUR_API_KEY`); ask the operator for a key. You only see your own tasks. ' +
        '`/health` and the image URLs need no key.']
      : []),
    `-   **Machine-readable API**: \`${base}/openapi.json\` (OpenAPI 3.1); for people: \`${base}/docs\``,
    '',
    'The examples below use `curl`; any HTTP client works the same way.',
    '',
    '## 2-Step Agent Workflow',
    '',
    '### Step 1: Start a Task',
    'You have two abilities here: Generating *new* images, or Editing *existing* images.',
    '',
    '#### Option A: Generate a New Image',
    'Send a simple POST request to queue the prompt.',
    '',
    '**POST** `/v1/images/async_generate`',
    '',
    '**JSON Body:**',
    ...jsonBlock({ prompt: GENERATE_PROMPT }),
    '',
    ...block('bash', curl(`${base}/v1/images/async_generate`, { headers, json: { prompt: GENERATE_PROMPT } })),
    '',
    `Optional fields (leave them out unless the user asks). The prompt may have up to ${MAX_PROMPT_CHARS} characters.`,
    ...fieldLines(),
    '',
    '#### Option B: Edit an Existing Image',
    'If the user provides an image and asks you to change it (e.g. "Make the cat sad"), you must send the image to the Edit endpoint as a `multipart/form-data` request.',
    '',
    '**POST** `/v1/images/async_edit`',
    '',
    '**FormData Body:**',
    "- `image`: The file bytes (e.g., `open('cat.png', 'rb')`)",
    `- \`prompt\`: The editing instruction (e.g., "${EDIT_PROMPT}")`,
    '',
    ...block('bash', curl(`${base}/v1/images/async_edit`, { headers, form: [['image', '@cat.png'], ['prompt', EDIT_PROMPT]] })),
    '',
    `The image may be a PNG, JPEG or WebP file of up to ${config.maxUploadMb} MiB. Without a \`size\` field the result keeps ` +
      'its aspect ratio at about one megapixel. The optional fields of Option A work here too, sent as form fields.',
    '',
    'If your tool cannot send `multipart/form-data`, send the same request as JSON instead, with the file\'s bytes ' +
      'base64-encoded in `"image"` (a `data:image/png;base64,...` URL works too; image URLs are not fetched).',
    '',
    '#### Task Response (For both options)',
    ...jsonBlock({ task_id: '8b9cad0e1f20', status: 'processing' }),
    '',
    '### Step 2: Poll for Result ',
    'Wait 5 seconds, then repeatedly call this endpoint (every 5 seconds) using the `task_id` you received above until the status is `completed`.',
    '',
    '**GET** `/v1/images/tasks/{task_id}`',
    '',
    ...block('bash', curl(`${base}/v1/images/tasks/{task_id}`, { headers })),
    '',
    '**Response while rendering:**',
    ...jsonBlock({ status: 'processing' }),
    'It also says how far it is: `stage` ("queued" or "running"), `queue_position`, `progress` (0 to 1) and `eta_seconds`.',
    '',
    '**Final Response (when done):**',
    ...jsonBlock({ status: 'completed', data: [{ url: `${base}/outputs/gen_...png` }] }),
    'Once you get `"status": "completed"`, you have successfully generated the image! Read the `url` from the `data` array and provide it to the user. ' +
      `With \`n\` above 1 (up to ${nMax}) there is one entry per image; each also has its \`seed\`, \`width\` and \`height\`. ` +
      'An edit\'s URL looks like `' + `${base}/outputs/edit_...png` + '`.',
    '',
    'If the status is `failed`, stop polling and tell the user `error.message`; `error.retryable: true` means submitting the same request again may work. ' +
      '`canceled` means the task was canceled. An unknown `task_id` answers HTTP 404 with `"status": "failed"`.',
    '',
    '## Delivering as a WhatsApp Image (File Attachment)',
    'If you need to send the actual image file to a user (e.g., via a WhatsApp messaging node) instead of the local HTTP link, you have two options to get the file data:',
    '',
    '**Option 1: Download the File Bytes (Easiest)**',
    `Using the \`url\` returned in Step 2, simply make a standard HTTP \`GET\` request to it (e.g., \`${base}/outputs/gen_...png\`). ` +
      'The response body will be the raw `image/png` binary file. Save it to a local temporary file and attach it to your message.',
    '',
    ...block('bash', curl('{url}', { output: 'image.png' })),
    '',
    '**Option 2: Request Base64 JSON**',
    'If your tool natively accepts Base64 strings, you can add `"response_format": "b64_json"` to your initial `POST` payload in Step 1. ' +
      'The final polled result will contain a `b64_json` field with the Base64-encoded PNG string instead of a `url`.',
    '',
    ...block('bash', curl(`${base}/v1/images/async_generate`, { headers, json: { prompt: GENERATE_PROMPT, response_format: 'b64_json' } })),
    '',
    '**Final Response (with b64_json):**',
    ...jsonBlock({ status: 'completed', data: [{ b64_json: 'iVBORw0KGgo...' }] }),
    '',
    '## Pre-flight & Health',
    '',
    'If you want to check if the server is online before starting:',
    '- **GET** `/health`',
    '- Returns `{"status": "ok"}` if the server is reachable.',
    '',
    ...block('bash', curl(`${base}/health`)),
    '',
    '`"ready": false` means the model is still loading: tasks are accepted and wait in the queue.',
    '',
    ...extrasSection(input, headers),
    '## Limits',
    '',
    `- \`prompt\`: 1 to ${MAX_PROMPT_CHARS} characters.`,
    `- \`size\`: "WIDTHxHEIGHT", each side a multiple of 16 from ${SIZE_MIN} to ${SIZE_MAX}; default "${DEFAULT_SIZE}".`,
    `- \`n\`: 1 to ${nMax} images per task.`,
    `- Output formats (\`output_format\`): ${consts(EditRequest.properties.output_format as Schema).join(', ')}; default ${JSON.stringify((EditRequest.properties.output_format as Schema).default)}.`,
    `- Uploads: PNG, JPEG or WebP, up to ${config.maxUploadMb} MiB.`,
    `- Finished tasks and their images are kept for ${config.retentionHours} hours; download what you need before then.`,
    '- Errors answer `{"error": {"message", "type", "code", "param"}}`; the message says what to change. ' +
      'HTTP 503 (queue full), 507 (storage full) and 429 come with a `Retry-After` header: wait that many seconds and try again.',
    '',
  ];
  return out.join('\n');
}
