/**
 * npm's `prepare` (after a plain `npm install` or `npm ci`): builds with the dev dependencies,
 * so a fresh clone's `npm install && npm start` serves. A production install
 * (`npm ci --omit=dev`) has no TypeScript: it must not fail, and uses dist/ as it is.
 */
import { build, hasTypeScript, isBuilt } from './lib/build-state.mjs';

const say = (line) => process.stderr.write(`zimage: ${line}\n`);

if (hasTypeScript()) {
  if (!build()) process.exit(1);
} else if (isBuilt()) {
  say('production install (no TypeScript): using the built dist/');
} else {
  say('warning: production install (no TypeScript) and dist/ is not built, so the server cannot start yet. '
    + 'Build where the dev dependencies are (npm ci && npm run build) and copy dist/ here, or install a packed release (npm pack).');
}
