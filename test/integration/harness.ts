import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash, createHmac, randomBytes, type Hash, type Hmac } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { S3Client, GetObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, SourceData } from '@smithy/types';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MAIN = join(ROOT, 'src/main.ts');

// Ports handed out by this process: never twice.
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1, below the kernel's ephemeral range (32768 and up): a port
 * from that range can be taken by any outgoing connection between this check and the
 * server's listen, and the server then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const p = 10_000 + Math.floor(Math.random() * 22_000);
    if (handedOut.has(p)) continue;
    handedOut.add(p);
    if (await canBind(p)) return p;
  }
}

/** Polls `check` until it returns truthy or the deadline passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<CmdResult> {
  return new Promise((res) => {
    const child = execFile(
      cmd,
      args,
      {
        env: { ...process.env, ...opts.env },
        cwd: opts.cwd,
        maxBuffer: 256 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 300_000,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number'
            ? (err as unknown as { code: number }).code
            : 1
          : 0;
        res({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A garage node started as a real process with its own directory and ports. */
export class GarageProcess {
  readonly dir: string;
  readonly configPath: string;
  readonly s3Port: number;
  readonly rpcPort: number;
  readonly webPort: number;
  proc: ChildProcess | undefined;
  log = '';
  /** Environment every start() gets, under the one it is given (restarts keep the suite's knobs). */
  defaultEnv: NodeJS.ProcessEnv = {};

  constructor(dir: string, configPath: string, s3Port: number, rpcPort: number, webPort: number) {
    this.dir = dir;
    this.configPath = configPath;
    this.s3Port = s3Port;
    this.rpcPort = rpcPort;
    this.webPort = webPort;
  }

  /** Creates a directory and a config file in the reference's format. */
  static async create(
    extra = '',
    opts: { replicationMode?: string; rpcSecret?: string; rpcPublicPort?: number } = {},
  ): Promise<GarageProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'garage-it-'));
    const s3Port = await freePort();
    const rpcPort = await freePort();
    const webPort = await freePort();
    const config = `metadata_dir = "${dir}/meta"
data_dir = "${dir}/data"

replication_mode = "${opts.replicationMode ?? 'none'}"

rpc_bind_addr = "127.0.0.1:${rpcPort}"
rpc_public_addr = "127.0.0.1:${opts.rpcPublicPort ?? rpcPort}"
rpc_secret = "${opts.rpcSecret ?? randomBytes(32).toString('hex')}"

bootstrap_peers = []
${extra}
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:${s3Port}"
root_domain = ".s3.garage"

[s3_web]
bind_addr = "127.0.0.1:${webPort}"
root_domain = ".web.garage"
index = "index.html"
`;
    const configPath = join(dir, 'garage.toml');
    writeFileSync(configPath, config);
    return new GarageProcess(dir, configPath, s3Port, rpcPort, webPort);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.s3Port}`;
  }

  /** Starts `garage server` and waits until its S3 and RPC ports answer. */
  async start(extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    const env = { ...this.defaultEnv, ...extraEnv };
    if (this.running()) throw new Error('this garage server is already running');
    this.proc = spawn(process.execPath, [MAIN, '-c', this.configPath, 'server'], {
      env: { ...process.env, RUST_LOG: 'garage=warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    const p = this.proc;
    await waitFor('garage server to listen', async () => {
      if (p.exitCode !== null) throw new Error(`garage server exited with ${p.exitCode}: ${this.log.slice(-2000)}`);
      return (await portOpen(this.s3Port)) && (await portOpen(this.rpcPort));
    });
  }

  /** Whether the server process is alive. */
  running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Runs the real CLI against this node. */
  cli(...args: string[]): Promise<CmdResult> {
    return run(process.execPath, [MAIN, '-c', this.configPath, ...args], { env: { RUST_LOG: 'garage=warn' } });
  }

  /** Runs the CLI and fails on a non-zero exit. */
  async cliOk(...args: string[]): Promise<string> {
    const r = await this.cli(...args);
    if (r.code !== 0) throw new Error(`garage ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Sends a signal and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await exited;
  }

  /** Deletes this node's metadata and/or data directories (the node must be stopped). */
  wipe(what: { meta?: boolean; data?: boolean }): void {
    if (what.meta) rmSync(join(this.dir, 'meta'), { recursive: true, force: true });
    if (what.data) rmSync(join(this.dir, 'data'), { recursive: true, force: true });
  }

  /** Stops the process and removes its directory. */
  async destroy(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a node and sets it up as the quick start does; returns the key's credentials. */
export async function quickStart(g: GarageProcess, bucket = 'test-bucket'): Promise<{ keyId: string; secret: string }> {
  if (!g.running()) await g.start();
  const status = await g.cliOk('status');
  const id = /^([0-9a-f]{16})/m.exec(status.split('\n').slice(2).join('\n'))![1]!;
  await g.cliOk('layout', 'assign', '-z', 'dc1', '-c', '1', id);
  await g.cliOk('layout', 'apply');
  await g.cliOk('bucket', 'create', bucket);
  const key = await g.cliOk('key', 'new', '--name', `${bucket}-key`);
  const keyId = /Key ID: (GK[0-9a-f]+)/.exec(key)![1]!;
  const secret = /Secret key: ([0-9a-f]+)/.exec(key)![1]!;
  await g.cliOk('bucket', 'allow', '--read', '--write', '--owner', bucket, '--key', `${bucket}-key`);
  return { keyId, secret };
}

/**
 * The fixture most integration tests share: one node started with a layout, a bucket and a
 * key allowed on it, and an SDK client for that key; set up before the suite's tests and
 * stopped after them. Call it inside a describe().
 */
export function useNode(
  bucket: string,
  opts: { extra?: string; env?: NodeJS.ProcessEnv; rpcSecret?: string } = {},
): NodeFixture {
  const f = new NodeFixture();
  before(async () => {
    const g = await GarageProcess.create(opts.extra ?? '', { rpcSecret: opts.rpcSecret });
    g.defaultEnv = opts.env ?? {};
    await g.start();
    const { keyId, secret } = await quickStart(g, bucket);
    f.set(g, keyId, secret);
  });
  after(() => f.close());
  return f;
}

/** What useNode sets up; reading it before the suite's before() ran is a mistake, said plainly. */
export class NodeFixture {
  #g: GarageProcess | undefined;
  #s3: S3Client | undefined;
  #keyId = '';
  #secret = '';

  set(g: GarageProcess, keyId: string, secret: string): void {
    this.#g = g;
    this.#keyId = keyId;
    this.#secret = secret;
    this.#s3 = s3Client(g, keyId, secret);
  }

  #ready<T>(v: T | undefined): T {
    if (v === undefined) throw new Error('the node fixture is used before its before() hook ran');
    return v;
  }

  get g(): GarageProcess {
    return this.#ready(this.#g);
  }
  get s3(): S3Client {
    return this.#ready(this.#s3);
  }
  get keyId(): string {
    this.#ready(this.#g);
    return this.#keyId;
  }
  get secret(): string {
    this.#ready(this.#g);
    return this.#secret;
  }

  async close(): Promise<void> {
    this.#s3?.destroy();
    await this.#g?.destroy();
  }
}

/** Knobs that make background work fast enough for tests. */
export const FAST_ENV: NodeJS.ProcessEnv = { GARAGE_SYNC_INTERVAL_MS: '2000', GARAGE_PING_INTERVAL_MS: '1000' };

/** Node ids as the CLI prints them (`<hex>@<addr>`). */
export async function nodeIds(nodes: GarageProcess[]): Promise<string[]> {
  return Promise.all(nodes.map(async (n) => (await n.cliOk('node', 'id')).trim()));
}

/** How startCluster sets its nodes up; `extra` adds configuration to node i's file (before its sections). */
export interface ClusterOptions {
  replicationMode?: string;
  bucket?: string;
  env?: NodeJS.ProcessEnv;
  extra?: (i: number) => string;
}

/**
 * Starts nodes sharing one secret, connects them through the first one, assigns the given
 * zones and capacities (null = gateway), applies the layout, and creates a bucket and a key.
 */
export async function startCluster(
  roles: { zone: string; capacity: number | null }[],
  opts: ClusterOptions = {},
): Promise<{ nodes: GarageProcess[]; ids: string[]; keyId: string; secret: string }> {
  const rpcSecret = randomBytes(32).toString('hex');
  const nodes: GarageProcess[] = [];
  try {
    return await formCluster(nodes, roles, rpcSecret, opts);
  } catch (e) {
    // Nothing started here may outlive a failed set-up (it would keep the test process alive).
    await Promise.all(nodes.map((n) => n.destroy()));
    throw e;
  }
}

async function formCluster(
  nodes: GarageProcess[],
  roles: { zone: string; capacity: number | null }[],
  rpcSecret: string,
  opts: ClusterOptions,
): Promise<{ nodes: GarageProcess[]; ids: string[]; keyId: string; secret: string }> {
  for (let i = 0; i < roles.length; i++)
    nodes.push(
      await GarageProcess.create(opts.extra?.(i) ?? '', { replicationMode: opts.replicationMode ?? '3', rpcSecret }),
    );
  await Promise.all(nodes.map((n) => n.start({ ...FAST_ENV, ...opts.env })));
  const ids = await nodeIds(nodes);
  for (let i = 1; i < nodes.length; i++) await nodes[i]!.cliOk('node', 'connect', ids[0]!);
  for (const [i, r] of roles.entries()) {
    await nodes[0]!.cliOk(
      'layout',
      'assign',
      '-z',
      r.zone,
      ...(r.capacity === null ? ['-g'] : ['-c', String(r.capacity)]),
      ids[i]!.slice(0, 16),
    );
  }
  await nodes[0]!.cliOk('layout', 'apply');
  await waitFor('every node to adopt the layout', async () => {
    for (const n of nodes) if (!/Current cluster layout version: 1/.test(await n.cliOk('layout', 'show'))) return false;
    return true;
  });
  const bucket = opts.bucket ?? 'cluster';
  await nodes[0]!.cliOk('bucket', 'create', bucket);
  const key = await nodes[0]!.cliOk('key', 'new', '--name', `${bucket}-key`);
  const keyId = /Key ID: (GK\w+)/.exec(key)![1]!;
  const secret = /Secret key: (\w+)/.exec(key)![1]!;
  await nodes[0]!.cliOk('bucket', 'allow', '--read', '--write', '--owner', bucket, '--key', keyId);
  await waitFor('the key and bucket to reach every node', async () => {
    for (const n of nodes) if (!new RegExp(keyId).test(await n.cliOk('bucket', 'info', bucket))) return false;
    return true;
  });
  return { nodes, ids, keyId, secret };
}

/** An AWS SDK client for a node (path-style, region garage, default checksums). */
export function s3Client(g: GarageProcess, keyId: string, secret: string, maxAttempts = 1): S3Client {
  return new S3Client({
    endpoint: g.endpoint,
    region: 'garage',
    forcePathStyle: true,
    credentials: { accessKeyId: keyId, secretAccessKey: secret },
    maxAttempts,
  });
}

/** Reads a whole object. */
export async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** Number of files below a directory (e.g. block files of a data_dir). */
export function countFiles(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    n += statSync(p).isDirectory() ? countFiles(p) : 1;
  }
  return n;
}

function sourceBytes(d: SourceData): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

/** SHA-256 (or HMAC-SHA256 when given a secret) for the SigV4 signer, on node:crypto. */
export class Sha256 implements Checksum {
  readonly #secret: Buffer | undefined;
  #h: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : sourceBytes(secret);
    this.#h = this.#fresh();
  }
  #fresh(): Hash | Hmac {
    return this.#secret ? createHmac('sha256', this.#secret) : createHash('sha256');
  }
  update(chunk: Uint8Array): void {
    this.#h.update(chunk);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#h.digest());
  }
  reset(): void {
    this.#h = this.#fresh();
  }
}

/** A whole HTTP answer. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The S3 error code of an XML error body. */
export const xmlErrorCode = (b: Buffer): string | undefined =>
  /<Error>\s*<Code>([^<]+)<\/Code>/.exec(b.toString('utf8'))?.[1];

/**
 * SigV4-signed raw requests (UNSIGNED-PAYLOAD) to a node's S3 API, for what the SDK cannot send:
 * odd query values, headers it would not set, bodies without a declared length.
 */
export class RawS3 {
  readonly #g: GarageProcess;
  readonly #signer: SignatureV4;

  constructor(g: GarageProcess, keyId: string, secret: string) {
    this.#g = g;
    this.#signer = new SignatureV4({
      credentials: { accessKeyId: keyId, secretAccessKey: secret },
      region: 'garage',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    });
  }

  /** Signs a request for `path` (already encoded); returns the path with its query string and the headers to send. */
  async sign(
    method: string,
    path: string,
    query: Record<string, string> = {},
    headers: Record<string, string> = {},
  ): Promise<{ path: string; headers: Record<string, string> }> {
    const all = { host: `127.0.0.1:${this.#g.s3Port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers };
    const req = await this.#signer.sign({
      method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: this.#g.s3Port,
      path,
      query,
      headers: all,
    });
    const qs = Object.entries(query)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    return { path: qs ? `${path}?${qs}` : path, headers: req.headers };
  }

  /**
   * Sends a signed request with node:http and reads the whole answer. `body`: bytes (sent with a
   * Content-Length), or a function that writes the body itself (chunked unless it set a length).
   */
  async send(
    method: string,
    path: string,
    query: Record<string, string> = {},
    headers: Record<string, string> = {},
    body?: Buffer | ((req: ClientRequest) => void),
  ): Promise<RawResponse> {
    const s = await this.sign(
      method,
      path,
      query,
      Buffer.isBuffer(body) ? { 'content-length': String(body.length), ...headers } : headers,
    );
    return this.sendSigned(method, s, body);
  }

  /** Sends a request signed with `sign` (its headers possibly changed since) and reads the whole answer. */
  sendSigned(
    method: string,
    s: { path: string; headers: Record<string, string> },
    body?: Buffer | ((req: ClientRequest) => void),
  ): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      let answered = false;
      const req = httpRequest(
        { host: '127.0.0.1', port: this.#g.s3Port, method, path: s.path, headers: s.headers, agent: false },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      // After an early answer to a body still being sent, writing the rest may fail (EPIPE once
      // the server closes): the answer is what counts.
      req.on('error', (e) => {
        if (!answered) reject(e);
      });
      if (typeof body === 'function') body(req);
      else req.end(body);
    });
  }
}

/** Awaits a promise that must fail with the given S3 error name and HTTP status. */
export async function s3Error(p: Promise<unknown>, name: string, status: number): Promise<S3ServiceException> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `expected ${name}, but the request succeeded`);
  assert.ok(err instanceof S3ServiceException, `expected an S3ServiceException, got ${String(err)}`);
  assert.equal(err.name, name, `error name (message: ${err.message})`);
  assert.equal(err.$metadata.httpStatusCode, status);
  const code = (err as S3ServiceException & { Code?: unknown }).Code;
  if (code !== undefined) assert.equal(code, name);
  return err;
}
