/**
 * The production install, for real: `npm pack` makes the release tarball (with the built
 * dist/), a temporary directory gets it and the lockfile, `npm ci --omit=dev` installs only the
 * runtime dependencies, and `npm start` there serves /health and /metrics without TypeScript
 * and without compiling. Also `prepare` and the start check in that tree.
 *
 * One shortcut, for time: the install runs with --ignore-scripts (prepare is then run on its
 * own, as the check that it passes without TypeScript) and borrows this checkout's compiled
 * better-sqlite3 (built for this very Node by the development install, as every npm ci in CI
 * compiles it), because compiling it again takes a minute or two.
 * ZIMAGE_TEST_FULL_INSTALL=1 runs the install with its scripts, compile included.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { ROOT, tempDir } from '../helpers/server.js';

const FULL = process.env.ZIMAGE_TEST_FULL_INSTALL === '1';
const npm = (args: string[], cwd: string, env: Record<string, string> = {}): SpawnSyncReturns<string> =>
  spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false', ...env }, timeout: 300_000 });
const ok = (r: SpawnSyncReturns<string>, what: string) => assert.equal(r.status, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);

describe('production install (npm pack, npm ci --omit=dev, npm start)', { timeout: 600_000 }, () => {
  let app: string;
  let files: string[];
  before(() => {
    const dir = tempDir('zimage-install-');
    const pack = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
    ok(pack, 'npm pack');
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = info.files.map((f) => f.path);
    app = path.join(dir, 'app');
    fs.mkdirSync(app);
    const untar = spawnSync('tar', ['xzf', path.join(dir, info.filename), '-C', app, '--strip-components=1']);
    assert.equal(untar.status, 0, String(untar.stderr));
    fs.copyFileSync(path.join(ROOT, 'package-lock.json'), path.join(app, 'package-lock.json'));
    const install = npm(['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', ...(FULL ? [] : ['--ignore-scripts'])], app);
    ok(install, 'npm ci --omit=dev');
    if (!FULL) fs.cpSync(path.join(ROOT, 'node_modules/better-sqlite3/build'), path.join(app, 'node_modules/better-sqlite3/build'), { recursive: true });
  });

  test('the tarball holds the built server, the playground, the Python worker and the docs, and no tests', () => {
    for (const f of ['dist/src/cli/main.js', 'dist/playground/playground/browser/app.js', 'src/playground/assets/index.html',
      'python/zimage_worker.py', 'python/requirements.txt', 'LICENSE', 'SECURITY.md', 'README.md', 'deploy/systemd/zimage.service', 'scripts/start-check.mjs']) {
      assert.ok(files.includes(f), `lacks ${f}`);
    }
    assert.ok(!files.some((f) => /^(dist\/)?(test|bench)\//.test(f)), 'no tests or benchmarks');
  });

  test('no dev dependency is installed, and prepare passes without TypeScript', () => {
    for (const dev of ['typescript', 'openai', 's3rver', 'playwright-core', '@types/node']) {
      assert.equal(fs.existsSync(path.join(app, 'node_modules', dev)), false, `${dev} is installed`);
    }
    const prepare = npm(['run', 'prepare'], app);
    ok(prepare, 'npm run prepare');
    assert.match(prepare.stderr, /production install \(no TypeScript\): using the built dist\//);
  });

  test('npm start serves /health and /metrics at once, without compiling', async (t) => {
    const child = spawn('npm', ['start'], {
      cwd: app, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ZIMAGE_ENGINE: 'synthetic', ZIMAGE_DATA_DIR: path.join(app, 'data') },
    });
    // npm start runs the server under a shell: stop the whole process group, not just npm.
    t.after(() => { try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ } });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after 60 s:\n${out}`)), 60_000);
      child.stdout!.on('data', () => {
        const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('exit', (code) => reject(new Error(`npm start exited (${code}):\n${out}`)));
    });
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    assert.equal((await fetch(`${url}/metrics`)).status, 200);
    assert.ok(!/building first|tsc/.test(out), `npm start compiled:\n${out}`);
    const version = spawnSync(process.execPath, [path.join(app, 'dist/src/cli/main.js'), '--version'], { encoding: 'utf8' });
    assert.equal(version.stdout.trim(), JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });

  test('the start check: sources newer than dist/ warn and start; a missing dist/ says how to get one', (t) => {
    const check = () => spawnSync(process.execPath, [path.join(app, 'scripts/start-check.mjs')], { cwd: app, encoding: 'utf8' });
    assert.equal(check().status, 0);
    const future = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(app, 'src/playground/assets/styles.css'), future, future);
    const stale = check();
    assert.equal(stale.status, 0);
    assert.match(stale.stderr, /src\/ is newer than dist\/, and TypeScript is not installed/);
    fs.renameSync(path.join(app, 'dist'), path.join(app, 'dist.away'));
    t.after(() => fs.renameSync(path.join(app, 'dist.away'), path.join(app, 'dist')));
    const missing = check();
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /dist\/ is not built and TypeScript is not installed .*npm ci && npm run build/);
  });
});
