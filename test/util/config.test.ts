import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseSize } from '../../src/util/config.ts';
import { ConfigError } from '../../src/util/errors.ts';

const SECRET = '1799bccfd7411eddcf9ebd316bc1f5287ad12a68094e1c6ac6abde7e6feae1ec';

function withFile(text: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'garage-cfg-'));
  try {
    const p = join(dir, 'garage.toml');
    writeFileSync(p, text);
    fn(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the reference quick-start file is accepted as written', () => {
  withFile(
    `metadata_dir = "/tmp/meta"
data_dir = "/tmp/data"
replication_mode = "none"
rpc_bind_addr = "[::]:3901"
rpc_public_addr = ""
rpc_secret = "${SECRET}"
bootstrap_peers = []
sled_cache_capacity = 134217728
[s3_api]
s3_region = "garage"
api_bind_addr = "[::]:3900"
root_domain = ".s3.garage"
[s3_web]
bind_addr = "[::]:3902"
root_domain = ".web.garage"
index = "index.html"
`,
    (p) => {
      const c = loadConfig(p, {});
      assert.equal(c.replicationFactor, 1);
      assert.equal(c.rpcPublicAddr, undefined);
      assert.equal(c.s3Api.region, 'garage');
      assert.equal(c.compressionLevel, 1);
      assert.equal(c.blockSize, 1048576);
      assert.match(c.warnings.join('\n'), /sled_cache_capacity/);
    },
  );
});

test('newest Garage keys are accepted', () => {
  withFile(
    `metadata_dir = "/m"\ndata_dir = [{ path = "/d1", capacity = "1T" }, { path = "/d2", read_only = true }]\nreplication_factor = 3\nconsistency_mode = "degraded"\ndb_engine = "lmdb"\nmetadata_fsync = true\ndata_fsync = true\nrpc_secret = "${SECRET}"\ncompression_level = "none"\nblock_size = "1M"\n[admin]\napi_bind_addr = "[::]:3903"\nadmin_token = "x"\n`,
    (p) => {
      const c = loadConfig(p, {});
      assert.equal(c.replicationFactor, 3);
      assert.equal(c.consistencyMode, 'degraded');
      assert.equal(c.compressionLevel, null);
      assert.equal(c.blockSize, 1_000_000);
      assert.deepEqual(
        c.dataDirs.map((d) => [d.path, d.capacity, d.readOnly]),
        [
          ['/d1', 1e12, false],
          ['/d2', undefined, true],
        ],
      );
    },
  );
});

test('errors name the key, the file and what was expected', () => {
  const cases: [string, RegExp][] = [
    [
      `metadata_dir = "/m"\ndata_dir = "/d"\nreplication_factor = 1\nrpc_secret = "${SECRET}"\nbogus_key = 1\n`,
      /unknown key 'bogus_key'/,
    ],
    [
      `metadata_dir = "/m"\ndata_dir = "/d"\nreplication_factor = 1\nrpc_secret = "abc"\n`,
      /'rpc_secret': expected 32 bytes as 64 hex/,
    ],
    [`data_dir = "/d"\nreplication_factor = 1\nrpc_secret = "${SECRET}"\n`, /missing required key 'metadata_dir'/],
    [
      `metadata_dir = "/m"\ndata_dir = "/d"\nreplication_mode = "4"\nrpc_secret = "${SECRET}"\n`,
      /key 'replication_mode'/,
    ],
    [`metadata_dir = "/m"\ndata_dir = "/d"\nrpc_secret = "${SECRET}"\n`, /replication_factor/],
    [
      `metadata_dir = "/m"\ndata_dir = "/d"\nreplication_factor = 1\nrpc_secret = "${SECRET}"\n[s3_api]\nregion = "x"\n`,
      /unknown key 's3_api.region'/,
    ],
    [`metadata_dir = "/m"\ndata_dir = \n`, /invalid TOML in '.*garage.toml' at line 2/],
  ];
  for (const [text, re] of cases) {
    withFile(text, (p) => {
      assert.throws(
        () => loadConfig(p, {}),
        (e: unknown) => e instanceof ConfigError && re.test(e.message) && e.message.includes(p),
        `expected ${re} for:\n${text}`,
      );
    });
  }
  assert.throws(
    () => loadConfig('/nonexistent/garage.toml', {}),
    /cannot read configuration file '\/nonexistent\/garage.toml'/,
  );
});

test('rpc_secret from the environment or a file', () => {
  withFile(`metadata_dir = "/m"\ndata_dir = "/d"\nreplication_factor = 1\n`, (p) => {
    assert.equal(loadConfig(p, { GARAGE_RPC_SECRET: SECRET }).rpcSecret.toString('hex'), SECRET);
  });
});

test('sizes', () => {
  assert.equal(parseSize('1'), 1);
  assert.equal(parseSize('10G'), 10e9);
  assert.equal(parseSize('1GiB'), 2 ** 30);
  assert.equal(parseSize('1.5T'), 1.5e12);
  assert.throws(() => parseSize('abc'));
});
