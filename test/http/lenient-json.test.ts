import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLenientJson } from '../../src/http/lenientJson.js';

test('strict JSON parses as JSON', () => {
  assert.deepEqual(parseLenientJson('{"prompt": "True, None", "n": 2}'), { prompt: 'True, None', n: 2 });
});

test('Python literals, single quotes and trailing commas are repaired, strings untouched', () => {
  assert.deepEqual(
    parseLenientJson("{'prompt': 'say \"None\" and it\\'s True', 'a': True, 'b': False, 'c': None, 'd': [1, 2,],}"),
    { prompt: 'say "None" and it\'s True', a: true, b: false, c: null, d: [1, 2] },
  );
});

test('what cannot be repaired still throws', () => {
  assert.throws(() => parseLenientJson('{"prompt": '));
  assert.throws(() => parseLenientJson("{'prompt': Maybe}"));
});
