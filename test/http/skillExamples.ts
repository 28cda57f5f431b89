/**
 * Reads the served SKILL.md the way an agent would and runs its examples: the curl
 * command lines are parsed (method, URL, headers, JSON body, -F fields) and sent with
 * fetch; documented response blocks are compared with the real answers. Used by skill.test.ts.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------- reading the document ----------

/** One curl example: where it is (the heading above it) and what it sends. */
export interface Curl {
  raw: string;
  section: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  data?: string;
  form: Array<[string, string]>;
  output?: string;
  stream: boolean;
}

/** A documented answer: a ```json block whose label (the line above it) says "Response". */
export interface JsonBlock {
  section: string;
  label: string;
  value: any;
}

export interface SkillDoc {
  text: string;
  curls: Curl[];
  responses: JsonBlock[];
}

/** Splits a command line as a POSIX shell would for the quoting the document uses. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unclosed ' in: ${line}`);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      for (i++; line[i] !== '"'; i++) {
        assert.ok(i < line.length, `unclosed " in: ${line}`);
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1])) i++;
        cur += line[i];
      }
      inWord = true;
    } else if (c === '\\') {
      if (line[i + 1] !== '\n') cur += line[i + 1];
      i++;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function parseCurl(raw: string, section: string): Curl {
  const w = shellWords(raw);
  assert.equal(w[0], 'curl', raw);
  const c: Curl = { raw, section, method: '', url: '', headers: {}, form: [], stream: false };
  for (let i = 1; i < w.length; i++) {
    const arg = w[i];
    if (arg === '-s') continue;
    else if (arg === '-N') c.stream = true;
    else if (arg === '-X') c.method = w[++i];
    else if (arg === '-H') {
      const h = w[++i];
      c.headers[h.slice(0, h.indexOf(':')).trim()] = h.slice(h.indexOf(':') + 1).trim();
    } else if (arg === '-d') c.data = w[++i];
    else if (arg === '-F') {
      const f = w[++i];
      c.form.push([f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]);
    } else if (arg === '-o') c.output = w[++i];
    else if (arg.startsWith('-')) assert.fail(`the document uses a curl option this test does not run: ${arg} in ${raw}`);
    else c.url = arg;
  }
  c.method ||= c.data !== undefined || c.form.length ? 'POST' : 'GET';
  return c;
}

export function parseDoc(text: string): SkillDoc {
  const doc: SkillDoc = { text, curls: [], responses: [] };
  const lines = text.split('\n');
  let section = '';
  let label = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^```(\w*)/.exec(line);
    if (!fence) {
      if (/^#{1,6} /.test(line)) section = line.replace(/^#+ /, '');
      if (line.trim()) label = line.trim();
      continue;
    }
    const body: string[] = [];
    for (i++; lines[i] !== '```'; i++) {
      assert.ok(i < lines.length, 'unclosed code block');
      body.push(lines[i]);
    }
    const code = body.join('\n');
    if (fence[1] === 'bash') {
      for (const cmd of code.split(/\n(?!\s)/)) if (cmd.trim()) doc.curls.push(parseCurl(cmd.replace(/\\\n\s*/g, ' '), section));
    } else if (fence[1] === 'json' && /Response/.test(label)) {
      doc.responses.push({ section, label, value: JSON.parse(code) });
    }
  }
  return doc;
}

// ---------- running it ----------

export interface RunOptions {
  vars?: Record<string, string>;
  edit?: (data: any) => any;
  init?: RequestInit;
  origin?: string;
}

export interface Answer { status: number; headers: Headers; text: string; body: any; bytes: Buffer }

export class Runner {
  readonly ran = new Set<string>();
  constructor(readonly doc: SkillDoc, readonly files: Record<string, Buffer>, readonly apiKey?: string) {}

  /** The one example in `section` whose raw text matches `pattern`. */
  curl(section: RegExp, pattern: RegExp = /./): Curl {
    const found = this.doc.curls.filter((c) => section.test(c.section) && pattern.test(c.raw));
    assert.equal(found.length, 1, `one example in section ${section} matching ${pattern}; found ${found.length}`);
    return found[0];
  }

  response(section: RegExp, label: RegExp): any {
    const found = this.doc.responses.filter((r) => section.test(r.section) && label.test(r.label));
    assert.equal(found.length, 1, `one response block "${label}" in section ${section}; found ${found.length}`);
    return found[0].value;
  }

  /**
   * Runs an example as curl would send it, with its {placeholders} filled from `vars`.
   * `edit` changes the JSON body; `origin` sends it to another server than the document's.
   */
  async run(c: Curl, opts: RunOptions = {}): Promise<Answer> {
    const { vars = {}, edit, init = {}, origin } = opts;
    this.ran.add(c.raw);
    const fill = (s: string) => s.replace(/\{(\w+)\}/g, (_m, k: string) => {
      assert.ok(vars[k] !== undefined, `placeholder {${k}} in ${c.raw}`);
      return vars[k];
    }).replace('YOUR_API_KEY', this.apiKey ?? 'YOUR_API_KEY');
    const headers = Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, fill(v)]));
    let body: BodyInit | undefined;
    if (c.data !== undefined) body = edit ? JSON.stringify(edit(JSON.parse(c.data))) : c.data;
    if (c.form.length) {
      const fd = new FormData();
      for (const [k, v] of c.form) {
        if (!v.startsWith('@')) fd.append(k, v);
        else fd.append(k, new Blob([new Uint8Array(this.files[v.slice(1)])], { type: 'image/png' }), v.slice(1));
      }
      body = fd;
    }
    let url = fill(c.url);
    if (origin) url = origin + url.slice(new URL(url).origin.length);
    const res = await fetch(url, { method: c.method, headers, body, ...init });
    const bytes = Buffer.from(await res.arrayBuffer());
    const text = bytes.toString('utf8');
    let json: any;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, body: json, bytes };
  }

  /** Step 2 as documented (without the 5 s waits): poll until the status is no longer "processing". */
  async poll(taskId: string, whileRendering: any): Promise<any> {
    const step2 = this.curl(/^Step 2/);
    for (let i = 0; i < 1500; i++) {
      const res = await this.run(step2, { vars: { task_id: taskId } });
      assert.equal(res.status, 200, res.text);
      if (res.body.status !== 'processing') return res.body;
      assertShape(res.body, whileRendering);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`task ${taskId} still processing`);
  }
}

const EXACT = new Set(['status', 'object']);
const pattern = (s: string) => new RegExp(`^${s.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('.+')}$`);

/**
 * The real answer has every field the documented one shows, of the same JSON type;
 * `status` and `object` values are exact, strings with "..." are patterns (URLs, base64).
 */
export function assertShape(actual: any, documented: any, path = '$'): void {
  if (Array.isArray(documented)) {
    assert.ok(Array.isArray(actual) && actual.length > 0, `${path} is a non-empty array: ${JSON.stringify(actual)}`);
    for (const [i, item] of actual.entries()) assertShape(item, documented[0], `${path}[${i}]`);
  } else if (documented !== null && typeof documented === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${path} is an object`);
    for (const [k, v] of Object.entries(documented)) {
      assert.ok(k in actual, `${path}.${k} is in ${JSON.stringify(actual).slice(0, 300)}`);
      if (EXACT.has(k)) assert.equal(actual[k], v, `${path}.${k}`);
      else assertShape(actual[k], v, `${path}.${k}`);
    }
  } else if (typeof documented === 'string' && documented.includes('...')) {
    assert.match(String(actual), pattern(documented), path);
  } else {
    assert.equal(typeof actual, typeof documented, `${path} is a ${typeof documented}`);
  }
}

export const fetchDoc = async (base: string, init: RequestInit = {}) => {
  const res = await fetch(`${base}/SKILL.md`, init);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/markdown; charset=utf-8');
  return parseDoc(await res.text());
};

/** A webhook receiver on loopback that records the POSTs it gets. */
export async function receiver() {
  const got: Array<{ headers: http.IncomingHttpHeaders; body: any }> = [];
  let notify = () => {};
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => { data += d; });
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(data) });
      res.end('ok');
      notify();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const next = () => new Promise<void>((r) => { if (got.length) r(); else notify = r; });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, next, close: () => server.close() };
}
