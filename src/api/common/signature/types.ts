import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { ChecksumAlgorithm } from '../checksum.ts';
import type { SigningContext } from './signing.ts';

/** What authentication needs of a request. */
export interface RequestHead {
  method: string;
  /** Raw path and query exactly as received (req.url). */
  url: string;
  /** Node's lowercased request headers. */
  headers: IncomingHttpHeaders;
  /**
   * Optional req.headersDistinct: Node joins a repeated header with ', ' but
   * SigV4 joins the values with ',', so signatures over repeated headers only
   * verify when this is given.
   */
  headersDistinct?: Record<string, string[] | undefined>;
}

/** Finds the secret of an access key; null if the key does not exist (or is deleted). */
export type KeyLookup = (accessKeyId: string) => Promise<{ secretKey: string } | null>;

/** How the request body is protected, from x-amz-content-sha256. */
export type PayloadMode =
  /** UNSIGNED-PAYLOAD (header or presigned), or no x-amz-content-sha256 at all. */
  | { kind: 'unsigned' }
  /** x-amz-content-sha256 is a hex digest (lowercased here); the body must match it. */
  | { kind: 'sha256'; hex: string }
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]: aws-chunked with a signature per chunk. */
  | { kind: 'streaming-signed'; trailer: boolean }
  /** STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked without signatures, checksum in a trailer. */
  | { kind: 'streaming-unsigned-trailer' };

/** A successfully authenticated request. */
export interface AuthResult {
  accessKeyId: string;
  payload: PayloadMode;
  /** What chunk signatures are verified with (opaque; holds no secret, only the derived day key). */
  signing: SigningContext;
  presigned: boolean;
  /** Lowercased names of the headers covered by the signature. */
  signedHeaders: readonly string[];
  /**
   * x-amz-* parameters of a presigned URL (names lowercased, values decoded)
   * other than the X-Amz-* authentication ones: they are signed and stand in for
   * request headers the URL's user could not set. Empty for header auth.
   */
  queryHeaders: Readonly<Record<string, string>>;
}

/** What was measured on a body whose checks all passed. */
export interface BodyChecks {
  /** md5 of the decoded body; only computed when Content-MD5 was sent (the store computes its own). */
  md5?: Buffer;
  /** sha256 of the decoded body; only computed when x-amz-content-sha256 is a digest. */
  sha256?: Buffer;
  /** The additional checksum, when one was sent (header or trailer) or asked for (x-amz-sdk-checksum-algorithm). */
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
  /** Decoded size in bytes. */
  size: number;
}

/** A request body being decoded and verified as it streams. */
export interface VerifiedBody {
  /** The decoded object bytes; errors (instead of ending) if any check fails. */
  stream: Readable;
  /** Resolves once the input has ended and every check passed; rejects with the S3Error otherwise. */
  done: Promise<BodyChecks>;
}
