// The deployment files of deploy/: the systemd unit passes `systemd-analyze verify` without a
// warning, and the three configurations of the compose cluster are valid for this program.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/util/config.ts';
import { ROOT, run } from './harness.ts';

it('the systemd unit is valid: systemd-analyze verify reports nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'garage-unit-'));
  const unit = readFileSync(join(ROOT, 'deploy/garage.service'), 'utf8');
  assert.match(unit, /^DynamicUser=true$/m);
  assert.match(unit, /^StateDirectory=garage$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^LimitNOFILE=\d+$/m);
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/garage server$/m);
  // verify checks that ExecStart exists: point it at this checkout's program, as the install does.
  const path = join(dir, 'garage.service');
  writeFileSync(path, unit.replace('/usr/local/bin/garage', join(ROOT, 'bin/garage')));
  const r = await run('/usr/bin/systemd-analyze', ['verify', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warning');
});

it('the compose cluster configurations load, with the secrets from the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'garage-compose-'));
  const secret = join(dir, 'rpc_secret');
  const token = join(dir, 'admin_token');
  writeFileSync(secret, `${'ab'.repeat(32)}\n`);
  writeFileSync(token, 'compose-token\n');
  const env = { GARAGE_RPC_SECRET_FILE: secret, GARAGE_ADMIN_TOKEN_FILE: token };
  for (const n of [1, 2, 3]) {
    const c = loadConfig(join(ROOT, `deploy/compose/garage${n}.toml`), env);
    assert.equal(c.replicationFactor, 3);
    assert.equal(c.rpcPublicAddr, `garage${n}:3901`);
    assert.equal(c.admin.adminToken, 'compose-token');
    assert.equal(c.rpcSecret.toString('hex'), 'ab'.repeat(32));
    assert.deepEqual(c.warnings, []);
  }
  const compose = readFileSync(join(ROOT, 'deploy/compose.yaml'), 'utf8');
  for (const n of [1, 2, 3]) assert.match(compose, new RegExp(`compose/garage${n}\\.toml:/etc/garage\\.toml`));
});
