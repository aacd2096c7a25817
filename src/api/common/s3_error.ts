import { GarageError, QuorumError, NetError, BlockError, LayoutError, errorMessage } from '../../util/errors.ts';

/** Known S3 error codes with their HTTP status. */
export const S3_ERROR_STATUS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BadRequest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  ConditionalRequestConflict: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  ExpiredToken: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidBucketState: 409,
  InvalidDigest: 400,
  InvalidEncryptionAlgorithmError: 400,
  InvalidPart: 400,
  InvalidPolicyDocument: 400,
  MalformedPOSTRequest: 400,
  MaxPostPreDataLengthExceeded: 400,
  InvalidPartOrder: 400,
  InvalidPartNumber: 416,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidTag: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MaxMessageLengthExceeded: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NoSuchVersion: 404,
  NoSuchObjectLockConfiguration: 404,
  ObjectLockConfigurationNotFoundError: 404,
  NoSuchTagSet: 404,
  NoSuchWebsiteConfiguration: 404,
  NoSuchCORSConfiguration: 404,
  NoSuchLifecycleConfiguration: 404,
  NotImplemented: 501,
  PreconditionFailed: 412,
  RequestTimeout: 400,
  QuotaExceeded: 403,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  XAmzContentSHA256Mismatch: 400,
  NotModified: 304,
} as const;

export type S3ErrorCode = keyof typeof S3_ERROR_STATUS;

/** An error that the S3 API edge turns into an XML error body with the right status. */
export class S3Error extends GarageError {
  override name = 'S3Error';
  readonly code: S3ErrorCode;
  readonly status: number;
  /** Extra elements for the XML body (e.g. Region for AuthorizationHeaderMalformed). */
  readonly extra: Record<string, string>;
  /** Response headers sent with the error (x-amz-delete-marker on a GET of a deleted key …). */
  readonly headers: Record<string, string>;
  constructor(
    code: S3ErrorCode,
    message: string,
    extra: Record<string, string> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.code = code;
    this.status = S3_ERROR_STATUS[code];
    this.extra = extra;
    this.headers = headers;
  }
}

/** Maps any error to the S3 error a client should see: unavailable replicas are a 503, not a 500. */
export function asS3Error(e: unknown): S3Error {
  if (e instanceof S3Error) return e;
  if (e instanceof QuorumError || e instanceof NetError || e instanceof BlockError || e instanceof LayoutError) {
    return new S3Error('ServiceUnavailable', `Service unavailable: ${e.message}`);
  }
  return new S3Error('InternalError', `Internal error: ${errorMessage(e)}`);
}
