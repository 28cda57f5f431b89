/**
 * The playground's files, read once at startup into a fixed table of URL -> bytes. Requests
 * are answered only from this table (one route per entry), so no request path ever reaches
 * the file system: there is nothing to traverse.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file runs as dist/src/playground/assets.js, three levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where the assets are served from (never under /v1, so API keys do not guard them). */
export const ASSET_PREFIX = '/playground';

/** The compiled browser code (tsc -p src/playground/browser); only these folders are served. */
const SCRIPT_ROOT = 'dist/playground';
const SCRIPT_DIRS = ['playground/browser', 'client'];

/** The hand-written files, each served at ASSET_PREFIX/<name>. */
const STATIC_FILES = ['styles.css', 'icon.svg'];
const STATIC_DIR = 'src/playground/assets';
const PAGE_FILE = 'index.html';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export interface Asset {
  body: Buffer;
  contentType: string;
  /** A strong validator: the content's hash, so it changes exactly when the bytes do. */
  etag: string;
}

export interface PlaygroundAssets {
  /** The page served at GET / to browsers. */
  page: Asset;
  /** URL path -> asset, e.g. /playground/js/playground/browser/app.js. */
  files: Map<string, Asset>;
  /** Set when the browser code is missing (only `tsc -p .` was run): what to do about it. */
  problem?: string;
}

function asset(body: Buffer, file: string): Asset {
  const contentType = CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream';
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Every .js file below dir (regular files only: a symlink could point anywhere). */
function scriptsBelow(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return scriptsBelow(full);
    return e.isFile() && e.name.endsWith('.js') ? [full] : [];
  });
}

const UNBUILT_PAGE = (problem: string) => Buffer.from(
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Z-Image playground</title>' +
  `<meta name="viewport" content="width=device-width, initial-scale=1"></head><body><h1>Z-Image playground</h1><p>${problem}</p></body></html>`,
);

export function loadPlaygroundAssets(root = PACKAGE_ROOT): PlaygroundAssets {
  const files = new Map<string, Asset>();
  for (const name of STATIC_FILES) {
    const file = path.join(root, STATIC_DIR, name);
    files.set(`${ASSET_PREFIX}/${name}`, asset(fs.readFileSync(file), file));
  }
  const scriptRoot = path.join(root, SCRIPT_ROOT);
  for (const dir of SCRIPT_DIRS) {
    for (const file of scriptsBelow(path.join(scriptRoot, dir))) {
      const url = `${ASSET_PREFIX}/js/${path.relative(scriptRoot, file).split(path.sep).join('/')}`;
      files.set(url, asset(fs.readFileSync(file), file));
    }
  }
  const entry = `${ASSET_PREFIX}/js/playground/browser/app.js`;
  if (!files.has(entry)) {
    const problem = 'The playground\'s browser code is not built. Run "npm run build" (it compiles src/playground/browser), then restart the server.';
    return { page: asset(UNBUILT_PAGE(problem), PAGE_FILE), files, problem };
  }
  const pageFile = path.join(root, STATIC_DIR, PAGE_FILE);
  return { page: asset(fs.readFileSync(pageFile), pageFile), files };
}
