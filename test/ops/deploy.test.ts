/**
 * The systemd units in deploy/systemd: systemd itself accepts them (`systemd-analyze verify`,
 * where it is installed), each carries the hardening the README promises, and each starts the
 * server the way `npm start` does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, tempDir } from '../helpers/server.js';

const DIR = path.join(ROOT, 'deploy/systemd');
const UNITS = ['zimage.service', 'zimage-api.service', 'zimage-worker@.service'];
const HARDENING = ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/zimage', 'PrivateTmp=yes',
  'ProtectHome=yes', 'LimitNOFILE=65536', 'UMask=0077', 'CapabilityBoundingSet=', 'RestartPreventExitStatus=2'];

describe('systemd units', () => {
  for (const unit of UNITS) {
    test(`${unit}: hardened, owner-only data directory, started as npm start starts the server`, () => {
      const text = fs.readFileSync(path.join(DIR, unit), 'utf8');
      const lines = text.split('\n').map((l) => l.trim());
      for (const directive of HARDENING) assert.ok(lines.includes(directive), `${unit} lacks ${directive}`);
      assert.ok(lines.includes('Environment=ZIMAGE_DATA_DIR=/var/lib/zimage'));
      assert.ok(lines.includes('StateDirectoryMode=0700'));
      const exec = lines.find((l) => l.startsWith('ExecStart='))!;
      assert.match(exec, /^ExecStart=\/usr\/bin\/node .*dist\/src\/cli\/main\.js (serve|worker)/);
      if (exec.includes(' serve')) assert.ok(exec.includes('--max-semi-space-size=4'), 'the memory setting of npm start');
    });
  }

  test('systemd-analyze verify accepts every unit without a warning', (t) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
      t.skip('systemd-analyze is not installed');
      return;
    }
    // verify wants a concrete instance name for the template.
    const dir = tempDir('zimage-units-');
    const files = UNITS.map((u) => {
      const target = path.join(dir, u.replace('@.service', '@0.service'));
      fs.copyFileSync(path.join(DIR, u), target);
      return target;
    });
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
    const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => files.some((f) => l.startsWith(f)));
    assert.deepEqual(complaints, [], complaints.join('\n'));
  });
});
