// Incremental decoder of the aws-chunked content encoding:
//
//   <hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
//   [<trailer-name>:<value>\r\n ... [x-amz-trailer-signature:<sig>\r\n]]\r\n
//
// It is fed the raw request bytes as they arrive and hands chunk data on as
// zero-copy slices of its input, so payload bytes are never copied or looped
// over in JS; only the short header and trailer lines are parsed here.

import { createHash, type Hash } from 'node:crypto';
import { S3Error } from '../s3_error.ts';
import { sha256Hex, signatureMatches, type SigningContext } from './signing.ts';

const S_HEADER = 0;
const S_DATA = 1;
const S_DATA_CRLF = 2;
const S_TRAILER = 3;
const S_DONE = 4;

/** Longest chunk header or trailer line accepted (a signed header line is ~100 bytes). */
const MAX_LINE = 4096;
const MAX_TRAILERS = 32;
const SIG_PREFIX = 'chunk-signature=';
const SIZE_RE = /^[0-9a-fA-F]{1,13}$/;

function malformed(what: string): S3Error {
  return new S3Error('InvalidRequest', `Malformed aws-chunked body: ${what}`);
}

/** Options of an aws-chunked decoder. */
export interface ChunkedOptions {
  /** Verify chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD*) with this context; absent for unsigned streaming. */
  signing?: SigningContext;
  /** Whether a trailer section is expected after the final chunk. */
  trailers: boolean;
  /** Receives each piece of decoded data, in order; may throw to abort decoding. */
  onData: (data: Buffer) => void;
}

/** Streaming decoder and verifier of an aws-chunked body; write() and end() throw S3Error on any problem. */
export class AwsChunkedDecoder {
  private readonly signing: SigningContext | undefined;
  private readonly expectTrailers: boolean;
  private readonly onData: (data: Buffer) => void;
  private state = S_HEADER;
  private line: Buffer[] = [];
  private lineLen = 0;
  private remaining = 0;
  private crlf = 0;
  private chunkHash: Hash | undefined;
  private chunkSig = '';
  private previousSig: string;
  private trailerSig: string | undefined;
  /** Trailers received (lowercased names), in order; valid after end(). */
  readonly trailers: [string, string][] = [];

  constructor(opts: ChunkedOptions) {
    this.signing = opts.signing;
    this.expectTrailers = opts.trailers;
    this.onData = opts.onData;
    this.previousSig = opts.signing?.seedSignature ?? '';
  }

  /** Value of a received trailer, by lowercased name. */
  trailer(name: string): string | undefined {
    for (const [n, v] of this.trailers) if (n === name) return v;
    return undefined;
  }

  /** Feeds the next piece of raw body. */
  write(buf: Buffer): void {
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      switch (this.state) {
        case S_DATA: {
          const take = Math.min(this.remaining, n - pos);
          const slice = buf.subarray(pos, pos + take);
          pos += take;
          this.remaining -= take;
          this.chunkHash?.update(slice);
          this.onData(slice);
          if (this.remaining === 0) {
            this.finishChunk();
            this.state = S_DATA_CRLF;
            this.crlf = 0;
          }
          break;
        }
        case S_DATA_CRLF: {
          if (buf[pos] !== (this.crlf === 0 ? 0x0d : 0x0a)) throw malformed('chunk data is not followed by CRLF');
          pos++;
          if (++this.crlf === 2) this.state = S_HEADER;
          break;
        }
        case S_HEADER:
        case S_TRAILER: {
          const nl = buf.indexOf(0x0a, pos);
          const end = nl < 0 ? n : nl;
          if (this.lineLen + end - pos > MAX_LINE) throw malformed('line too long');
          if (nl < 0) {
            this.line.push(buf.subarray(pos, n));
            this.lineLen += n - pos;
            pos = n;
            break;
          }
          const line = this.takeLine(buf.subarray(pos, nl));
          pos = nl + 1;
          if (this.state === S_HEADER) this.onHeader(line);
          else this.onTrailerLine(line);
          break;
        }
        default:
          throw malformed('data after the end of the body');
      }
    }
  }

  /** Signals the end of the raw body; throws unless the encoding was complete and valid. */
  end(): void {
    if (this.state === S_DONE) return;
    // Tolerate a body that stops right after the final chunk or the last
    // trailer line without the closing empty line: nothing is missing.
    if (this.state === S_TRAILER && this.lineLen === 0) {
      this.finishTrailers();
      this.state = S_DONE;
      return;
    }
    throw new S3Error('IncompleteBody', 'The request body ended before the aws-chunked encoding was complete');
  }

  private takeLine(last: Buffer): string {
    let full = last;
    if (this.lineLen) {
      this.line.push(last);
      full = Buffer.concat(this.line);
      this.line = [];
      this.lineLen = 0;
    }
    if (full.length === 0 || full[full.length - 1] !== 0x0d) throw malformed('line not terminated by CRLF');
    return full.toString('latin1', 0, full.length - 1);
  }

  private onHeader(line: string): void {
    const semi = line.indexOf(';');
    const sizeStr = semi < 0 ? line : line.slice(0, semi);
    if (!SIZE_RE.test(sizeStr)) throw malformed('invalid chunk size');
    const size = parseInt(sizeStr, 16);
    if (this.signing) {
      const ext = semi < 0 ? '' : line.slice(semi + 1).trim();
      if (!ext.startsWith(SIG_PREFIX))
        throw new S3Error('SignatureDoesNotMatch', 'A chunk of the streaming payload has no chunk-signature.');
      this.chunkSig = ext.slice(SIG_PREFIX.length);
      this.chunkHash = size > 0 ? createHash('sha256') : undefined;
    }
    if (size === 0) {
      this.finishChunk();
      this.state = S_TRAILER;
    } else {
      this.remaining = size;
      this.state = S_DATA;
    }
  }

  private finishChunk(): void {
    if (!this.signing) return;
    const hash = this.chunkHash ? this.chunkHash.digest('hex') : sha256Hex('');
    this.chunkHash = undefined;
    if (!signatureMatches(this.signing.chunkSignature(this.previousSig, hash), this.chunkSig)) {
      throw new S3Error(
        'SignatureDoesNotMatch',
        'The chunk signature we calculated does not match the signature you provided.',
      );
    }
    this.previousSig = this.chunkSig;
  }

  private onTrailerLine(line: string): void {
    if (line === '') {
      this.finishTrailers();
      this.state = S_DONE;
      return;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('invalid trailer line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature') {
      if (this.trailerSig !== undefined) throw malformed('repeated trailer signature');
      this.trailerSig = value;
    } else {
      if (this.trailers.length >= MAX_TRAILERS) throw malformed('too many trailers');
      this.trailers.push([name, value]);
    }
  }

  private finishTrailers(): void {
    if (!this.expectTrailers) {
      if (this.trailers.length || this.trailerSig !== undefined)
        throw malformed('trailers sent without a -TRAILER x-amz-content-sha256');
      return;
    }
    if (!this.signing) return;
    if (this.trailerSig === undefined)
      throw new S3Error('SignatureDoesNotMatch', 'The streaming payload has no x-amz-trailer-signature.');
    let canonical = '';
    for (const [n, v] of this.trailers) canonical += `${n}:${v}\n`;
    if (!signatureMatches(this.signing.trailerSignature(this.previousSig, sha256Hex(canonical)), this.trailerSig)) {
      throw new S3Error(
        'SignatureDoesNotMatch',
        'The trailer signature we calculated does not match the signature you provided.',
      );
    }
  }
}
