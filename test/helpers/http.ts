/** Small fetch helpers for black-box tests against a real server. */
import sharp from 'sharp';

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function request<T = any>(url: string, init: RequestInit = {}): Promise<JsonResponse<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: keep text */
  }
  return { status: res.status, headers: res.headers, body };
}

export const postJson = <T = any>(url: string, body: unknown, headers: Record<string, string> = {}) =>
  request<T>(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

export const postRaw = <T = any>(url: string, body: string | Buffer, contentType?: string) =>
  request<T>(url, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body: body as BodyInit });

export const getJson = <T = any>(url: string) => request<T>(url);

/** Polls a task the way the skill document says (without the 5 s wait) until it is no longer processing. */
export async function pollTask(base: string, id: string, timeoutMs = 30_000, intervalMs = 20): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await getJson(`${base}/v1/images/tasks/${id}`);
    if (res.status !== 200) throw new Error(`poll answered ${res.status}: ${JSON.stringify(res.body)}`);
    if (res.body.status !== 'processing') return res.body;
    if (Date.now() > deadline) throw new Error(`task ${id} still processing after ${timeoutMs} ms: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A solid-colour PNG of the given size. */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

export function form(fields: Record<string, string>, files: Record<string, { data: Buffer; name?: string; type?: string }> = {}): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(files)) fd.append(k, new Blob([new Uint8Array(v.data)], { type: v.type ?? 'image/png' }), v.name ?? `${k}.png`);
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  return fd;
}
