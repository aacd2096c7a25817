// S3 request authentication (SigV4 header and presigned query) and streaming
// payload verification (sha256, aws-chunked signatures, Content-MD5,
// additional checksums). See DESIGN.md §9.

export type { AuthResult, BodyChecks, KeyLookup, PayloadMode, RequestHead, VerifiedBody } from './types.ts';
export { SigningContext } from './signing.ts';
export {
  authenticate,
  authenticatePostPolicy,
  MAX_PRESIGNED_EXPIRES,
  MAX_SKEW_MS,
  type PostPolicyFields,
} from './auth.ts';
export { verifiedBody } from './body.ts';
