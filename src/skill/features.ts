/**
 * Which optional abilities this server has, read from its own OpenAPI document (itself
 * generated from the registered routes and their schemas), so the skill document
 * describes exactly the routes that answer, never one that was planned.
 */

type Json = Record<string, any>;

export interface SkillFeatures {
  /** GET /v1/images/tasks/{task_id}?wait=SECONDS answers when the task finishes (or at the limit). */
  longPoll: { param: string; maxSeconds: number } | null;
  /** Server-Sent Events of one task. Paths are written with a `{task_id}` placeholder. */
  events: { path: string } | null;
  cancel: { method: string; path: string } | null;
  list: { path: string } | null;
  /** Submit bodies accept "webhook_url". */
  webhooks: boolean;
  /** Submits honour the Idempotency-Key header. */
  idempotency: boolean;
  openaiGenerations: boolean;
  openaiEdits: boolean;
}

const TASK = String.raw`/v1/images/tasks/\{[^}/]+\}`;

/** The operation for `method` on the first path matching `pattern`, with that path (params as {task_id}). */
function find(doc: Json, method: string, pattern: string): { path: string; op: Json } | null {
  const re = new RegExp(`^${pattern}$`);
  for (const [path, item] of Object.entries((doc.paths ?? {}) as Json)) {
    if (re.test(path) && item?.[method]) return { path: path.replace(/\{[^}]+\}/g, '{task_id}'), op: item[method] };
  }
  return null;
}

const parameters = (op: Json | undefined): Json[] => (Array.isArray(op?.parameters) ? op.parameters : []);

function bodyProperties(op: Json | undefined): Json {
  const content = (op?.requestBody?.content ?? {}) as Json;
  const schema = (content['application/json'] ?? Object.values(content)[0])?.schema as Json | undefined;
  return (schema?.properties ?? {}) as Json;
}

/** `maxWaitSeconds`: the long-poll limit (the query schema is a string, as the route reads it). */
export function featuresOf(doc: Json, maxWaitSeconds: number): SkillFeatures {
  const poll = find(doc, 'get', TASK)?.op;
  const wait = parameters(poll).find((p) => p.in === 'query' && p.name === 'wait');
  const submit = find(doc, 'post', '/v1/images/async_generate')?.op;
  const cancel = find(doc, 'post', `${TASK}/cancel`) ?? find(doc, 'delete', TASK);
  return {
    longPoll: wait ? { param: 'wait', maxSeconds: maxWaitSeconds } : null,
    events: find(doc, 'get', `${TASK}/events`) ? { path: '/v1/images/tasks/{task_id}/events' } : null,
    cancel: cancel ? { method: cancel.path.endsWith('/cancel') ? 'POST' : 'DELETE', path: cancel.path } : null,
    list: find(doc, 'get', '/v1/images/tasks') ? { path: '/v1/images/tasks' } : null,
    webhooks: 'webhook_url' in bodyProperties(submit),
    idempotency: parameters(submit).some((p) => p.in === 'header' && String(p.name).toLowerCase() === 'idempotency-key'),
    openaiGenerations: find(doc, 'post', '/v1/images/generations') !== null,
    openaiEdits: find(doc, 'post', '/v1/images/edits') !== null,
  };
}
