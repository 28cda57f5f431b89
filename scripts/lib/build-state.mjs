/**
 * Whether dist/ is built and current, shared by `npm start` (scripts/start-check.mjs), `prepare`
 * (scripts/prepare.mjs) and `npm run build` (which stamps dist/ when it finishes).
 *
 * "Current" means no source that `npm start` runs (src/, the tsconfig files) changed after the
 * last build finished: a production install (dist built elsewhere, no TypeScript) or a checkout
 * that was just built starts at once, and a checkout whose sources were edited builds first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STAMP = path.join(ROOT, 'dist', '.build-stamp');
const ENTRY = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const PLAYGROUND_ENTRY = path.join(ROOT, 'dist', 'playground', 'playground', 'browser', 'app.js');
const SOURCES = [path.join(ROOT, 'src'), path.join(ROOT, 'tsconfig.json')];

/** TypeScript is installed (a development install); absent after `npm ci --omit=dev`. */
export function hasTypeScript() {
  return fs.existsSync(path.join(ROOT, 'node_modules', 'typescript', 'package.json'));
}

/** The server and the playground's browser code are both built. */
export function isBuilt() {
  return fs.existsSync(ENTRY) && fs.existsSync(PLAYGROUND_ENTRY);
}

/** Newest modification time (ms) of a file or of the files below a directory; 0 when absent. */
function newest(p) {
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const e of fs.readdirSync(p, { withFileTypes: true })) max = Math.max(max, newest(path.join(p, e.name)));
  return max;
}

/** When the last build finished: the stamp `npm run build` writes, else the entry point's own time. */
function builtAt() {
  for (const f of [STAMP, ENTRY]) {
    try {
      return fs.statSync(f).mtimeMs;
    } catch {
      // try the next
    }
  }
  return 0;
}

/** A source file changed after the last build (never true where the sources are not shipped). */
export function isStale() {
  return Math.max(...SOURCES.map(newest)) > builtAt();
}

/** Marks dist/ as built now (the last step of `npm run build`). */
export function stamp() {
  fs.mkdirSync(path.dirname(STAMP), { recursive: true });
  fs.writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

/** Runs `npm run build` in the package, its output on ours; returns whether it succeeded. */
export function build() {
  const npm = process.env.npm_execpath;
  const result = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: ROOT, stdio: 'inherit' })
    : spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  return result.status === 0;
}
