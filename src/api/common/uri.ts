import { S3Error } from './s3_error.ts';

/**
 * Percent-decodes a request path or header that names a bucket and key. Keys are UTF-8: bytes that
 * do not decode as UTF-8 are refused (400) rather than replaced, which would silently name another key.
 */
export function decodeUtf8Component(raw: string, what: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) throw new S3Error('InvalidRequest', `${what} has an invalid percent-escape`);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new S3Error(
      'InvalidArgument',
      `${what} is not valid UTF-8 once percent-decoded (bucket names and object keys are UTF-8)`,
    );
  }
}

/** The bucket name a Host header designates: `<bucket><root_domain>`, else undefined. */
export function vhostBucket(host: string | undefined, rootDomain: string | undefined): string | undefined {
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (!rootDomain || hostname === '') return undefined;
  const suffix = rootDomain.startsWith('.') ? rootDomain : `.${rootDomain}`;
  return hostname.endsWith(suffix) && hostname.length > suffix.length ? hostname.slice(0, -suffix.length) : undefined;
}
