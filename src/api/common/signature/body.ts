// Streaming verification of a request body: payload hash, aws-chunked
// signatures, Content-MD5 and S3 additional checksums, all computed on the fly.
//
// The decoded stream never ends cleanly unless every check passed: the last
// piece of data is held back until the input has ended and been verified, so
// a consumer cannot even see all the bytes of a bad body, and a failure turns
// into an 'error' on the stream (and a rejected `done`) instead of 'end'.

import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { S3Error } from '../s3_error.ts';
import {
  CHECKSUM_ALGORITHMS,
  checksumHeaderName,
  checksumAlgorithmFromHeader,
  createChecksum,
  decodeBase64Exact,
  decodeChecksum,
  encodeChecksum,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
  type Checksummer,
} from '../checksum.ts';
import { headerString } from './auth.ts';
import { AwsChunkedDecoder } from './chunked.ts';
import type { AuthResult, BodyChecks, RequestHead, VerifiedBody } from './types.ts';

/** What the body must satisfy, worked out from the request headers before reading it. */
interface BodyPlan {
  streaming: boolean;
  contentMd5?: Buffer;
  sha256Hex?: string;
  algorithm?: ChecksumAlgorithm;
  /** Expected checksum from an x-amz-checksum-* header. */
  checksumHeader?: Buffer;
  /** Trailer that will carry the expected checksum. */
  checksumTrailer?: string;
  decodedLength?: number;
  /** Raw length of the body as sent (encoded length for aws-chunked). */
  contentLength?: number;
}

function parseLength(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^\d{1,16}$/.test(v))
    throw new S3Error('InvalidArgument', `Invalid ${name} header`, {
      ArgumentName: name,
      ArgumentValue: v.slice(0, 100),
    });
  return Number(v);
}

function planBody(head: RequestHead, auth: AuthResult): BodyPlan {
  // Checksums are read from real headers only. AWS documents that presigned
  // URLs do not support additional checksums, and AWS SDK v3 (>= 3.729, default
  // settings) bakes the CRC32 of an *empty* body into every presigned PUT URL
  // (x-amz-checksum-crc32=AAAAAA==): honouring it would break those uploads.
  const hv = (name: string): string | undefined => headerString(head.headers, name);
  const kind = auth.payload.kind;
  const streaming = kind === 'streaming-signed' || kind === 'streaming-unsigned-trailer';
  const trailerMode = kind === 'streaming-unsigned-trailer' || (kind === 'streaming-signed' && auth.payload.trailer);
  const plan: BodyPlan = { streaming };
  if (kind === 'sha256') plan.sha256Hex = auth.payload.hex;

  const md5 = hv('content-md5');
  if (md5 !== undefined) {
    const d = decodeBase64Exact(md5.trim(), 16);
    if (!d) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.');
    plan.contentMd5 = d;
  }

  const sources: ChecksumAlgorithm[] = [];
  for (const alg of CHECKSUM_ALGORITHMS) {
    const value = hv(checksumHeaderName(alg));
    if (value === undefined) continue;
    const d = decodeChecksum(alg, value);
    if (!d) throw new S3Error('InvalidRequest', `Value for ${checksumHeaderName(alg)} header is invalid.`);
    plan.checksumHeader = d;
    sources.push(alg);
  }
  const declared = hv('x-amz-trailer');
  if (declared !== undefined && declared.trim() !== '') {
    if (!trailerMode)
      throw new S3Error(
        'InvalidRequest',
        'x-amz-trailer requires x-amz-content-sha256 to be a STREAMING-…-TRAILER value.',
      );
    for (const name of declared.split(',')) {
      const n = name.trim().toLowerCase();
      const alg = checksumAlgorithmFromHeader(n);
      if (!alg || n !== checksumHeaderName(alg))
        throw new S3Error(
          'InvalidRequest',
          `The value specified in the x-amz-trailer header is not supported: ${n.slice(0, 100)}`,
        );
      plan.checksumTrailer = n;
      sources.push(alg);
    }
  }
  if (sources.length > 1)
    throw new S3Error(
      'InvalidRequest',
      'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
    );
  plan.algorithm = sources[0];
  const sdk = hv('x-amz-sdk-checksum-algorithm');
  if (sdk !== undefined) {
    const alg = parseChecksumAlgorithm(sdk);
    if (!alg || (plan.algorithm && plan.algorithm !== alg))
      throw new S3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.');
    plan.algorithm = alg;
  }

  if (streaming) plan.decodedLength = parseLength(hv('x-amz-decoded-content-length'), 'x-amz-decoded-content-length');
  // With Transfer-Encoding the length is unknown until the end; Node's HTTP
  // parser checks framing either way, this catches other truncated sources.
  if (head.headers['transfer-encoding'] === undefined)
    plan.contentLength = parseLength(headerString(head.headers, 'content-length'), 'content-length');
  return plan;
}

class BodyVerifier extends Transform {
  private readonly plan: BodyPlan;
  private readonly md5: Hash | undefined;
  private readonly sha256: Hash | undefined;
  private readonly checksum: Checksummer | undefined;
  private readonly decoder: AwsChunkedDecoder | undefined;
  private held: Buffer | undefined;
  private size = 0;
  private rawSize = 0;
  private settled = false;
  private resolveDone!: (c: BodyChecks) => void;
  private rejectDone!: (e: Error) => void;
  readonly done: Promise<BodyChecks>;

  constructor(plan: BodyPlan, auth: AuthResult) {
    super();
    this.plan = plan;
    this.done = new Promise<BodyChecks>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Consumers normally observe failures through the stream; an unawaited
    // `done` must not become an unhandled rejection.
    this.done.catch(() => undefined);
    if (plan.contentMd5) this.md5 = createHash('md5');
    if (plan.sha256Hex !== undefined) this.sha256 = createHash('sha256');
    if (plan.algorithm) this.checksum = createChecksum(plan.algorithm);
    if (plan.streaming) {
      const p = auth.payload;
      this.decoder = new AwsChunkedDecoder({
        signing: p.kind === 'streaming-signed' ? auth.signing : undefined,
        trailers: p.kind === 'streaming-unsigned-trailer' || (p.kind === 'streaming-signed' && p.trailer),
        onData: (d) => this.accept(d),
      });
    }
  }

  /** Fails the body: rejects `done` and errors the stream (no 'end' will follow). */
  fail(e: unknown): void {
    if (!this.settled) this.destroy(toS3Error(e));
  }

  private accept(d: Buffer): void {
    this.size += d.length;
    if (this.plan.decodedLength !== undefined && this.size > this.plan.decodedLength) {
      throw new S3Error('InvalidRequest', 'The decoded body is longer than x-amz-decoded-content-length.');
    }
    this.md5?.update(d);
    this.sha256?.update(d);
    this.checksum?.update(d);
    if (this.held) this.push(this.held);
    this.held = d;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.rawSize += chunk.length;
      if (this.plan.contentLength !== undefined && this.rawSize > this.plan.contentLength) {
        throw new S3Error('InvalidRequest', 'The request body is longer than its Content-Length.');
      }
      if (this.decoder) this.decoder.write(chunk);
      else this.accept(chunk);
      cb();
    } catch (e) {
      cb(toS3Error(e));
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      const checks = this.finalChecks();
      this.settled = true;
      this.resolveDone(checks);
      if (this.held) this.push(this.held);
      this.held = undefined;
      cb();
    } catch (e) {
      cb(toS3Error(e));
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.held = undefined;
    if (!this.settled) {
      this.settled = true;
      // A consumer may destroy the stream with its own error (e.g. storage
      // failure): `done` reports that error as is.
      this.rejectDone(err ?? new S3Error('IncompleteBody', 'The request body was not read to its end.'));
    }
    cb(err);
  }

  private finalChecks(): BodyChecks {
    const plan = this.plan;
    this.decoder?.end();
    if (plan.contentLength !== undefined && this.rawSize < plan.contentLength) {
      throw new S3Error(
        'IncompleteBody',
        'You did not provide the number of bytes specified by the Content-Length HTTP header.',
      );
    }
    if (plan.decodedLength !== undefined && this.size !== plan.decodedLength) {
      throw new S3Error(
        'IncompleteBody',
        'You did not provide the number of bytes specified by the x-amz-decoded-content-length header.',
      );
    }
    const checks: BodyChecks = { size: this.size };
    if (this.sha256) {
      checks.sha256 = this.sha256.digest();
      if (checks.sha256.toString('hex') !== plan.sha256Hex) {
        throw new S3Error(
          'XAmzContentSHA256Mismatch',
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
          {
            ClientComputedContentSHA256: plan.sha256Hex!,
            S3ComputedContentSHA256: checks.sha256.toString('hex'),
          },
        );
      }
    }
    if (plan.contentMd5 && this.md5) {
      checks.md5 = this.md5.digest();
      if (!plan.contentMd5.equals(checks.md5))
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
          ExpectedDigest: plan.contentMd5.toString('base64'),
          CalculatedDigest: checks.md5.toString('base64'),
        });
    }
    if (plan.algorithm && this.checksum) {
      const digest = this.checksum.digest();
      let expected = plan.checksumHeader;
      if (plan.checksumTrailer !== undefined) {
        const value = this.decoder?.trailer(plan.checksumTrailer);
        if (value === undefined)
          throw new S3Error(
            'InvalidRequest',
            `The ${plan.checksumTrailer} trailer announced in x-amz-trailer was not sent.`,
          );
        const d = decodeChecksum(plan.algorithm, value);
        if (!d) throw new S3Error('InvalidRequest', `Value for ${plan.checksumTrailer} trailing header is invalid.`);
        expected = d;
      }
      if (expected && !expected.equals(digest)) {
        throw new S3Error('BadDigest', `The ${plan.algorithm} you specified did not match the calculated checksum.`);
      }
      checks.checksum = { algorithm: plan.algorithm, value: encodeChecksum(digest) };
    }
    return checks;
  }
}

function toS3Error(e: unknown): S3Error {
  if (e instanceof S3Error) return e;
  return new S3Error(
    'IncompleteBody',
    `The request body could not be read: ${e instanceof Error ? e.message : String(e)}`,
  );
}

/**
 * Decodes (aws-chunked) and verifies a request body as it streams. Throws an
 * S3Error synchronously when headers are malformed (Content-MD5, checksums,
 * lengths), before any byte is read. The returned stream errors instead of
 * ending if any check fails; consume it with pipeline() or async iteration.
 * On failure the source is unpiped and paused, never destroyed, so an error
 * response can still be written on the same connection.
 */
export function verifiedBody(body: Readable, head: RequestHead, auth: AuthResult): VerifiedBody {
  const plan = planBody(head, auth);
  const v = new BodyVerifier(plan, auth);
  const onError = (e: Error) =>
    v.fail(new S3Error('IncompleteBody', `The request body could not be read: ${e.message}`));
  // A client that disconnects mid-upload makes the request close without 'end'.
  const onClose = () => {
    if (!body.readableEnded) v.fail(new S3Error('IncompleteBody', 'The request body ended prematurely.'));
  };
  // These stay attached for the life of the request (they are no-ops once the
  // body is settled): a source emitting 'error' with no listener would crash.
  body.on('error', onError);
  body.on('close', onClose);
  if (body.readableEnded) {
    // pipe() would never end the verifier for a source that already ended.
    v.end();
  } else if (body.destroyed) {
    process.nextTick(onClose);
  } else {
    body.pipe(v);
  }
  return { stream: v, done: v.done };
}
