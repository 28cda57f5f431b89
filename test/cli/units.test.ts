/**
 * The CLI's pure parts, in process: the table-driven parser, output naming and format rules,
 * progress lines, and how failures map to exit codes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiResponseError, ServerUnreachableError } from '../../src/client/index.js';
import { COMMON_OPTIONS, parseCommand, UsageError } from '../../src/cli/client/args.js';
import { EXIT, failureOf, InputError } from '../../src/cli/client/exit.js';
import { checkTaskFormat, formatOfName, outputPath, planOutput } from '../../src/cli/client/output.js';
import { bar, createProgress, describe as describeTask, ttyLine } from '../../src/cli/client/progress.js';
import type { Task } from '../../src/client/index.js';

const GEN = ['output', 'format', 'size', 'n', 'seed', 'steps', 'negative', ...COMMON_OPTIONS] as const;
const parse = (argv: string[]) => parseCommand('generate', GEN, [{ name: 'prompt', doc: 'what to draw' }], argv);

describe('argument parser', () => {
  test('--flag value, --flag=value, short flags, -- before a dash prompt', () => {
    const a = parse(['a cat', '-o', 'out.png', '--size=512x512', '-n', '2', '--seed', '-1', '--json']);
    assert.deepEqual(a.args, { prompt: 'a cat' });
    assert.deepEqual(a.values, { output: 'out.png', size: '512x512', n: 2, seed: -1, json: true });
    assert.equal(parse(['x', '-oout.webp']).values.output, 'out.webp');
    assert.equal(parse(['x', '--format', 'JPG']).values.format, 'jpeg');
    assert.deepEqual(parse(['--', '-dashing prompt']).args, { prompt: '-dashing prompt' });
    assert.equal(parse(['x', '--negative=-blurry']).values.negative, '-blurry');
  });

  test('--help wins over every other mistake', () => {
    assert.equal(parse(['--help']).help, true);
    assert.equal(parse(['--bogus', '-h']).help, true);
  });

  test('mistakes are UsageErrors naming the command', () => {
    const cases: Array<[string[], RegExp]> = [
      [['x', '--bogus'], /unknown option --bogus/],
      [['x', '-z'], /unknown option -z/],
      [[], /missing <prompt>/],
      [['x', 'out.png'], /unexpected argument "out.png".*quote the prompt/],
      [['x', '--seed', 'abc'], /--seed must be a whole number/],
      [['x', '--n', '1.5'], /--n must be a whole number/],
      [['x', '--size'], /--size needs a value/],
      [['x', '--output', '--json'], /--output needs a value/],
      [['x', '--json=yes'], /--json takes no value/],
      [['x', '--format', 'gif'], /--format must be png, jpeg or webp/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(() => parse(argv), (err: unknown) => err instanceof UsageError && message.test(err.message) && err.command === 'generate', argv.join(' '));
    }
  });
});

describe('output files', () => {
  test('the format comes from --format or the extension; a contradiction is refused', () => {
    assert.equal(formatOfName('a.PNG'), 'png');
    assert.equal(formatOfName('a.jpg'), 'jpeg');
    assert.equal(formatOfName('a.jpeg'), 'jpeg');
    assert.equal(formatOfName('a.webp'), 'webp');
    assert.equal(formatOfName('a'), undefined);
    assert.equal(formatOfName('a.gif'), null);
    assert.equal(planOutput('generate', 'out.jpg', undefined).format, 'jpeg');
    assert.equal(planOutput('generate', 'out.jpg', 'jpeg').format, 'jpeg');
    assert.equal(planOutput('generate', undefined, 'webp').format, 'webp');
    assert.equal(planOutput('generate', undefined, undefined).format, undefined);
    assert.throws(() => planOutput('generate', 'out.png', 'webp'), /--format webp contradicts the output name "out.png".*-o out.webp/);
    assert.throws(() => planOutput('generate', 'out.gif', undefined), /cannot write ".gif" files/);
    assert.throws(() => checkTaskFormat('wait', planOutput('wait', 'x.png', undefined), 'jpeg'), /task makes jpeg images.*-o x.jpg/);
    checkTaskFormat('wait', planOutput('wait', 'x.jpeg', undefined), 'jpeg');
  });

  test('names: -o as given, numbered for several; default zimage-<short id>', () => {
    const id = '3d6b1d6d03ed6ee50c6777b9efa64077';
    const named = planOutput('generate', 'dir/out.png', undefined);
    assert.equal(outputPath(named, id, 0, 1, 'png'), 'dir/out.png');
    assert.deepEqual([0, 1].map((i) => outputPath(named, id, i, 2, 'png')), ['dir/out-1.png', 'dir/out-2.png']);
    const plain = planOutput('generate', undefined, undefined);
    assert.equal(outputPath(plain, id, 0, 1, 'jpeg'), 'zimage-3d6b1d6d.jpg');
    assert.equal(outputPath(plain, id, 2, 3, 'webp'), 'zimage-3d6b1d6d-3.webp');
    const dir = planOutput('generate', 'outdir/', undefined);
    assert.equal(outputPath(dir, id, 0, 1, 'png'), 'outdir/zimage-3d6b1d6d.png');
  });
});

const running = (step: number, total: number): Task => ({
  task_id: 't1', status: 'processing', kind: 'generate', created_at: 0, stage: 'running', step, total_steps: total,
  progress: step / total, eta_seconds: (total - step) * 0.1, queue_position: null,
});
const queued = (position: number): Task => ({ task_id: 't1', status: 'processing', kind: 'generate', created_at: 0, stage: 'queued', queue_position: position });

describe('progress', () => {
  test('lines say the queue position (1-based) and step/total', () => {
    assert.equal(describeTask(queued(1)), 'queued (position 2)');
    assert.equal(describeTask(running(3, 8)), 'running step 3/8');
    assert.equal(bar(0.5, 10), '[#####-----]');
    assert.match(ttyLine(running(4, 8), 2), /^\[#{12}-{12}\]\s+50%  step 4\/8  ETA 0\.4s  2\.0s$/);
    assert.match(ttyLine(queued(0), 1), /queued, position 1/);
  });

  test('plain lines: one per state change, steps at most one a second', () => {
    let now = 0;
    let text = '';
    const stream = { write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WriteStream;
    const p = createProgress({ stream, tty: false, silent: false, now: () => now });
    p.update(queued(1), 'state');
    p.update(queued(1), 'position');
    p.update(queued(0), 'position');
    for (let s = 0; s <= 8; s++) {
      now += 300;
      p.update(running(s, 8), 'progress');
    }
    assert.deepEqual(text.trim().split('\n'), ['queued (position 2)', 'queued (position 1)', 'running step 0/8', 'running step 4/8', 'running step 8/8']);
  });

  test('the terminal line is redrawn in place', () => {
    let text = '';
    const stream = { columns: 60, write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WriteStream;
    const p = createProgress({ stream, tty: true, silent: false });
    p.update(running(1, 8), 'progress');
    p.update(running(2, 8), 'progress');
    p.stop();
    assert.equal(text.split('\r').length, 4);
    assert.ok(text.endsWith('\r\x1b[K'));
    assert.ok(text.split('\r').every((l) => l.length <= 60 + 3));
  });
});

describe('exit codes', () => {
  const api = (status: number) => new ApiResponseError(status, { message: 'm', code: 'c', type: 'invalid_request_error', param: null });
  test('each failure maps to its documented code', () => {
    assert.equal(failureOf(new UsageError('x', 'generate')).code, EXIT.usage);
    assert.match(failureOf(new UsageError('x', 'generate')).message, /zimage help generate/);
    assert.equal(failureOf(new InputError('x')).code, EXIT.usage);
    assert.equal(failureOf(new ServerUnreachableError('http://h', 'connection refused')).code, EXIT.unreachable);
    for (const s of [400, 404, 409, 413, 415, 422]) assert.equal(failureOf(api(s)).code, EXIT.usage, String(s));
    for (const s of [401, 403]) assert.equal(failureOf(api(s)).code, EXIT.auth, String(s));
    for (const s of [429, 500, 503]) assert.equal(failureOf(api(s)).code, EXIT.unreachable, String(s));
    assert.equal(failureOf(new Error('bug')).code, 1);
  });
});
