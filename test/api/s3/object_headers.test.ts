import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { objectHeaders } from '../../../src/api/s3/get.ts';

describe('objectHeaders', () => {
  it('leaves out stored headers that cannot be sent (an object stored before input validation stays readable)', () => {
    const meta = {
      size: 1,
      etag: 'abc',
      headers: [
        ['content-type', 'text/plain'],
        ['x-amz-meta-crlf', 'a\r\nset-cookie: x=1'],
        ['x-amz-meta-nul', 'a\u0000b'],
        ['x-amz-meta-wide', 'euro €'],
        ['x-amz-meta-bad name', 'v'],
        ['x-amz-meta-ok', 'caf\u00e9 \t fine'],
      ] as [string, string][],
    };
    const h = objectHeaders(meta, 0);
    for (const [k, v] of Object.entries(h)) {
      validateHeaderName(k);
      validateHeaderValue(k, v);
    }
    assert.equal(h['content-type'], 'text/plain');
    // Metadata that is not ASCII is sent as one RFC 2047 encoded word, as S3 does.
    const word = (t: string) => `=?UTF-8?B?${Buffer.from(t).toString('base64')}?=`;
    assert.equal(h['x-amz-meta-ok'], word('caf\u00e9 \t fine'));
    assert.equal(h['x-amz-meta-wide'], word('euro €'));
    for (const k of ['x-amz-meta-crlf', 'x-amz-meta-nul', 'x-amz-meta-bad name']) assert.equal(h[k], undefined, k);
  });
});
