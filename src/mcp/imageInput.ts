/**
 * The image (and mask) an MCP edit_image call names, resolved to bytes. Three forms:
 *
 * - the URL of an image this Z-Image server produced (`…/outputs/<file>`, or just
 *   `/outputs/<file>`): always downloaded from the server the client talks to, never from the
 *   host written in the URL, so no caller can make the server (or the stdio process) fetch
 *   an arbitrary address (SSRF);
 * - a local file path or file:// URL, for the stdio server only (it runs on the user's machine);
 * - base64 or a `data:image/...;base64,` URL.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CallOptions } from '../client/index.js';
import { OUTPUT_NAME_RE } from '../ids.js';

/** A file larger than this is not read at all (the server's own upload limit is usually far lower). */
export const MAX_LOCAL_FILE_BYTES = 256 * 1024 * 1024;

/** A bad image argument: reported to the model as a tool error with this code and param. */
export class ImageInputError extends Error {
  override name = 'ImageInputError';

  constructor(readonly code: string, readonly param: string, message: string) {
    super(message);
  }
}

export interface ImageSourceOptions {
  /** Downloads a path of the server (`outputs/<file>`, relative to its base URL): the typed client's download(). */
  download(path: string, opts?: CallOptions): Promise<Uint8Array>;
  /** Whether local paths and file:// URLs may be read (stdio only: over HTTP they would be the server's files). */
  localFiles: boolean;
}

const DATA_URL_RE = /^data:([^;,]*)((?:;[^;,]*)*?);base64,/i;
const BASE64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;
/** Shorter strings are not taken for base64 (no image is this small), so a typo'd path is not "decoded". */
const MIN_BASE64_CHARS = 64;

/** What the argument may be, for error messages. */
function forms(localFiles: boolean): string {
  return localFiles
    ? 'the URL of an image this server produced (…/outputs/…), a local file path, base64, or a data: URL'
    : 'the URL of an image this server produced (…/outputs/…), base64, or a data: URL';
}

function decodeBase64(b64: string, param: string): Uint8Array {
  const clean = b64.replace(/\s+/g, '');
  if (!BASE64_RE.test(clean)) {
    throw new ImageInputError('invalid_image', param, `"${param}" is not valid base64. Send the image file's bytes base64-encoded, or a data:image/png;base64,… URL.`);
  }
  return new Uint8Array(Buffer.from(clean, 'base64'));
}

/**
 * `outputs/<file>` (relative: resolved against the client's base URL, which may carry a path
 * prefix behind a proxy) when the value names an image of this server, else undefined.
 */
export function outputPathOf(value: string): string | undefined {
  let pathname: string;
  if (/^https?:\/\//i.test(value)) {
    try {
      pathname = new URL(value).pathname;
    } catch {
      return undefined;
    }
  } else if (value.startsWith('/outputs/')) {
    pathname = value.split(/[?#]/)[0]; // bare: only the server's own path (a local /…/outputs/x.png stays a file)
  } else {
    return undefined;
  }
  const m = /^(?:\/[^/]+)*\/outputs\/([^/]+)$/.exec(pathname);
  return m && OUTPUT_NAME_RE.test(m[1]) && !pathname.split('/').includes('..') ? `outputs/${m[1]}` : undefined;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

async function readLocalFile(file: string, param: string): Promise<Uint8Array> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new ImageInputError('file_not_found', param, `"${param}": there is no file at ${file}. Give an absolute path to a PNG, JPEG or WebP file.`);
  }
  if (!stat.isFile()) throw new ImageInputError('invalid_image', param, `"${param}": ${file} is not a file.`);
  if (stat.size > MAX_LOCAL_FILE_BYTES) {
    throw new ImageInputError('file_too_large', param, `"${param}": ${file} is ${Math.round(stat.size / 1048576)} MiB, too large for an image to edit.`);
  }
  return new Uint8Array(await fs.readFile(file));
}

/** Whether a string that is not base64-looking was meant as a path (so "no such file" is the right error). */
const looksLikePath = (value: string) =>
  /^(\/|~|\.{1,2}[\\/]|[A-Za-z]:[\\/])/.test(value) || /\.(png|jpe?g|webp)$/i.test(value);

/**
 * The bytes of an image argument. Throws ImageInputError for anything that is none of the
 * accepted forms; a download's ApiResponseError (404: not this server's image) passes through.
 */
export async function resolveImage(raw: string, param: string, opts: ImageSourceOptions, call: CallOptions = {}): Promise<Uint8Array> {
  const value = raw.trim();
  if (!value) throw new ImageInputError('invalid_image', param, `"${param}" is empty: give ${forms(opts.localFiles)}.`);

  const data = DATA_URL_RE.exec(value);
  if (data) return decodeBase64(value.slice(data[0].length), param);
  if (/^data:/i.test(value)) {
    throw new ImageInputError('invalid_image', param, `"${param}": only base64 data: URLs are accepted (data:image/png;base64,…).`);
  }

  const output = outputPathOf(value);
  if (output) return opts.download(output, call);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !/^file:\/\//i.test(value)) {
    throw new ImageInputError('unsupported_image_url', param,
      `"${param}": only URLs of images this Z-Image server produced (…/outputs/<file> from a task's result) are accepted; ` +
      `other URLs are never fetched. Pass the image as ${opts.localFiles ? 'a local file path, ' : ''}base64 or a data: URL instead.`);
  }

  if (/^file:\/\//i.test(value)) {
    if (!opts.localFiles) throw localFilesRefused(param);
    let file: string;
    try {
      file = fileURLToPath(value);
    } catch {
      throw new ImageInputError('invalid_image', param, `"${param}": ${value} is not a valid file:// URL.`);
    }
    return readLocalFile(file, param);
  }

  const base64ish = value.length >= MIN_BASE64_CHARS && BASE64_RE.test(value.replace(/\s+/g, ''));
  if (opts.localFiles) {
    // A file that exists wins (a JPEG's base64 starts with "/9j/", which also looks like a path).
    const file = path.resolve(expandHome(value));
    if (value.length < 4096 && !value.includes('\n')) {
      const exists = await fs.stat(file).then(() => true, () => false);
      if (exists || !base64ish) {
        if (exists || looksLikePath(value)) return readLocalFile(file, param);
      }
    }
  } else if (!base64ish && looksLikePath(value)) {
    throw localFilesRefused(param);
  }
  if (base64ish) return decodeBase64(value, param);
  throw new ImageInputError('invalid_image', param, `"${param}" must be ${forms(opts.localFiles)}.`);
}

function localFilesRefused(param: string): ImageInputError {
  return new ImageInputError('local_files_unsupported', param,
    `"${param}": local file paths work only with the stdio MCP server ("zimage mcp", running on the machine that has the file). ` +
    'Over HTTP, send the image as base64 or a data: URL, or the URL of an image this server produced.');
}
