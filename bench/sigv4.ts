// A minimal SigV4 request signer for benches that send many requests (the SDK's costs more client
// CPU per request than the server spends on a small object). Header auth, UNSIGNED-PAYLOAD; paths
// and query values must be plain ASCII the caller has already encoded.
import { createHash, createHmac } from 'node:crypto';

/** Credentials and region of the target. */
export interface SignerOptions {
  host: string;
  region: string;
  keyId: string;
  secret: string;
}

const hmac = (k: Buffer | string, s: string): Buffer => createHmac('sha256', k).update(s).digest();

/** Returns a function that signs a request and gives the headers to send. */
export function signer(o: SignerOptions): (method: string, path: string, query?: string) => Record<string, string> {
  let day = '';
  let key: Buffer = Buffer.alloc(0);
  return (method, path, query = '') => {
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
    if (amzDate.slice(0, 8) !== day) {
      day = amzDate.slice(0, 8);
      key = hmac(hmac(hmac(hmac(`AWS4${o.secret}`, day), o.region), 's3'), 'aws4_request');
    }
    const canonicalQuery = query
      .split('&')
      .filter((p) => p !== '')
      .map((p) => (p.includes('=') ? p : `${p}=`))
      .sort()
      .join('&');
    const headers = `host:${o.host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:${amzDate}\n`;
    const signed = 'host;x-amz-content-sha256;x-amz-date';
    const request = [method, path, canonicalQuery, headers, signed, 'UNSIGNED-PAYLOAD'].join('\n');
    const scope = `${day}/${o.region}/s3/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(request).digest('hex')}`;
    const signature = createHmac('sha256', key).update(toSign).digest('hex');
    return {
      'x-amz-date': amzDate,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      authorization: `AWS4-HMAC-SHA256 Credential=${o.keyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
    };
  };
}
