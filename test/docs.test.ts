/** The README stays true: its configuration table is the one generated from src/config.ts. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers/server.js';

test('README configuration table matches src/config.ts (run `npm run docs` to update it)', async () => {
  const { configTable, replaceSection } = await import(path.join(ROOT, 'scripts/readme-config.mjs'));
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.equal(replaceSection(readme, await configTable()), readme);
});

test('README quick start is the two commands', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm test/);
});
