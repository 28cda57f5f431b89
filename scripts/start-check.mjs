/**
 * Runs before `npm start`: builds only when dist/ is missing or older than the sources, so a
 * start does not compile every time and a production install (no TypeScript) starts at once.
 * Exits non-zero, with a sentence saying what to do, when it cannot give `npm start` a build.
 */
import { build, hasTypeScript, isBuilt, isStale } from './lib/build-state.mjs';

const say = (line) => process.stderr.write(`zimage: ${line}\n`);

if (!isBuilt()) {
  if (!hasTypeScript()) {
    say('dist/ is not built and TypeScript is not installed (a production install: npm ci --omit=dev). '
      + 'Build where the dev dependencies are (npm ci && npm run build) and copy dist/ here, or install a packed release (npm pack).');
    process.exit(1);
  }
  say('not built yet: building first (npm run build)');
  if (!build()) process.exit(1);
} else if (isStale()) {
  if (hasTypeScript()) {
    say('sources changed since the last build: building first (npm run build)');
    if (!build()) process.exit(1);
  } else {
    say('warning: src/ is newer than dist/, and TypeScript is not installed to rebuild it; starting the built dist/ as it is');
  }
}
