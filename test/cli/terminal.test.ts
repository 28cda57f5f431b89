/**
 * Progress and Ctrl-C on a real pseudo-terminal (util-linux `script`), and Ctrl-C without one:
 * the redrawn bar, the "Cancel task …? [y/N]" question (y cancels on the server, anything else
 * or a second Ctrl-C leaves it running), exit 130 either way; piped, SIGINT leaves the task
 * running and prints its id.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ZImageClient } from '../../src/client/index.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { HAVE_SCRIPT, startCli, startCliOnPty, typeKeys } from './helpers.js';

const STEP_MS = 100;
const idIn = (text: string) => /Submitted task ([0-9a-f]{32})/.exec(text)?.[1];

describe('zimage on a terminal, and Ctrl-C', { skip: HAVE_SCRIPT ? false : 'util-linux script is not installed' }, () => {
  let server: TestServer;
  let client: ZImageClient;
  let cwd: string;

  before(async () => {
    server = await startTestServer({ syntheticStepMs: STEP_MS }, { shutdownGraceMs: 0 });
    client = new ZImageClient({ url: server.url });
    cwd = tempDir('zimage-cli-');
  });
  after(async () => {
    await server.close();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  test('a terminal gets one redrawn progress line: bar, step/total, ETA', async () => {
    const cli = startCliOnPty(['generate', 'a fox on a terminal', '--steps', '12', '--size', '256x256', '-o', 'tty.png'], { url: server.url, cwd });
    const r = await cli.done;
    assert.equal(r.code, 0, r.stdout);
    const redraws = r.stdout.split('\r').filter((s) => s.startsWith('['));
    assert.ok(redraws.length >= 3, `several redraws of one line:\n${JSON.stringify(r.stdout)}`);
    assert.match(r.stdout, /\r\[#*-*\]\s+\d+%  step \d+\/12  ETA [\d.]+s/);
    assert.match(r.stdout, /step 12\/12/);
    assert.match(r.stdout, /\x1b\[K/);
    assert.match(r.stdout, /\r\x1b\[Kcompleted in [^\r]*\r\n(note: [^\r]*\r\n)?tty\.png\r\n$/);
    assert.ok(fs.existsSync(path.join(cwd, 'tty.png')));
  });

  test('the terminal shows the queue position while queued', async () => {
    const blocker = await client.generate({ prompt: 'blocker', num_inference_steps: 20, size: '256x256' });
    const cli = startCliOnPty(['generate', 'behind the blocker', '--steps', '2', '--size', '256x256', '-o', 'q.png'], { url: server.url, cwd });
    const r = await cli.done;
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /\r\[-+\]  queued, position 1/);
    assert.equal((await client.get(blocker.task_id)).status, 'completed');
  });

  test('Ctrl-C, then y: the task is canceled on the server, exit 130', async () => {
    const cli = startCliOnPty(['generate', 'cancel me', '--steps', '100', '--size', '256x256'], { url: server.url, cwd });
    await cli.waitFor(/step [1-9]\d*\/100/);
    const id = idIn(cli.output())!;
    typeKeys(cli, '\x03');
    await cli.waitFor(`Cancel task ${id} on the server? [y/N]`);
    typeKeys(cli, 'y');
    const r = await cli.done;
    assert.equal(r.code, 130, r.stdout);
    assert.match(r.stdout, new RegExp(`Canceled task ${id}`));
    assert.equal((await client.get(id)).status, 'canceled');
  });

  test('Ctrl-C, then anything else (or Ctrl-C again): it keeps running, with how to resume; exit 130', async () => {
    for (const answer of ['n', '\x03']) {
      const cli = startCliOnPty(['generate', 'keep me', '--steps', '100', '--size', '256x256', '-o', 'kept.png'], { url: server.url, cwd });
      await cli.waitFor(/step [1-9]\d*\/100/);
      const id = idIn(cli.output())!;
      typeKeys(cli, '\x03');
      await cli.waitFor('[y/N]');
      typeKeys(cli, answer);
      const r = await cli.done;
      assert.equal(r.code, 130, r.stdout);
      assert.match(r.stdout, new RegExp(`Task ${id} is still running on the server`));
      assert.match(r.stdout, new RegExp(`resume: zimage wait ${id} -o kept\\.png`));
      const task = await client.get(id);
      assert.equal(task.status, 'processing', JSON.stringify(answer));
      await client.cancel(id);
    }
  });

  test('no terminal: SIGINT leaves the task running and prints its id; exit 130', async () => {
    const cli = startCli(['generate', 'piped', '--steps', '100', '--size', '256x256', '--json'], { url: server.url, cwd });
    await cli.waitFor(/running step/);
    const id = idIn(cli.stderr())!;
    cli.child.kill('SIGINT');
    const r = await cli.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, new RegExp(`Task ${id} is still running on the server`));
    assert.doesNotMatch(r.stderr, /\[y\/N\]/);
    assert.deepEqual(JSON.parse(r.stdout), { task_id: id, interrupted: true, canceled: false });
    assert.equal((await client.get(id)).status, 'processing');
    await client.cancel(id);
  });
});
