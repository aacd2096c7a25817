import { checkedVersionId, readVersion, versionHeaders } from './versioning.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml } from '../common/xml.ts';
import { decimalValue, httpDate, sendXml, type ObjectCtx } from './context.ts';
import { openWith, requestKey } from './sse_c.ts';

const ATTRIBUTES = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
type Attribute = (typeof ATTRIBUTES)[number];
const EMPTY = Buffer.alloc(0);

/** GetObjectAttributes: what x-amz-object-attributes asks for, parts paged by x-amz-max-parts / x-amz-part-number-marker. */
export async function handleGetObjectAttributes(ctx: ObjectCtx): Promise<void> {
  const raw = String(ctx.req.headers['x-amz-object-attributes'] ?? '');
  const wanted = new Set<Attribute>();
  for (const a of raw.split(',').map((s) => s.trim())) {
    const known = ATTRIBUTES.find((x) => x === a);
    if (!known)
      throw new S3Error('InvalidArgument', 'Invalid attribute name specified.', {
        ArgumentName: 'x-amz-object-attributes',
      });
    wanted.add(known);
  }
  const maxParts = Math.min(
    decimalValue(ctx.req.headers['x-amz-max-parts'], 'x-amz-max-parts', 0, 2 ** 31 - 1) ?? 1000,
    1000,
  );
  const marker =
    decimalValue(ctx.req.headers['x-amz-part-number-marker'], 'x-amz-part-number-marker', 0, 2 ** 31 - 1) ?? 0;
  const { model } = ctx.svc;
  const entry = await model.object.get(ctx.bucket.id, Buffer.from(ctx.objectKey));
  const v = readVersion(ctx.bucket, entry, checkedVersionId(ctx.query.get('versionId')));
  const meta = v.state.data.meta;
  // Even the size of an SSE-C object is for holders of its key only.
  openWith(meta.encryption, requestKey(ctx.req.headers));
  let objectParts: Record<string, unknown> | undefined;
  if (wanted.has('ObjectParts') && meta.parts) {
    const chosen = (await model.version.get(v.uuid, EMPTY))?.header?.parts ?? [];
    const after = chosen.filter(([n]) => n > marker);
    const page = after.slice(0, maxParts);
    const truncated = after.length > page.length;
    const alg = meta.checksum?.algorithm;
    objectParts = {
      PartsCount: chosen.length,
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: page[page.length - 1]![0] } : {}),
      MaxParts: maxParts,
      IsTruncated: truncated,
      Part: page.map(([n, , size, checksum]) => ({
        PartNumber: n,
        Size: size,
        ...(alg && checksum ? { [`Checksum${alg}`]: checksum } : {}),
      })),
    };
  }
  const c = meta.checksum;
  sendXml(
    ctx.res,
    200,
    toXml('GetObjectAttributesResponse', {
      ...(wanted.has('ETag') ? { ETag: meta.etag } : {}),
      ...(wanted.has('Checksum') && c
        ? { Checksum: { [`Checksum${c.algorithm.toUpperCase()}`]: c.value, ChecksumType: c.type ?? 'FULL_OBJECT' } }
        : {}),
      ...(objectParts ? { ObjectParts: objectParts } : {}),
      ...(wanted.has('StorageClass') ? { StorageClass: 'STANDARD' } : {}),
      ...(wanted.has('ObjectSize') ? { ObjectSize: meta.size } : {}),
    }),
    { 'last-modified': httpDate(v.ts), ...versionHeaders(ctx.bucket, v) },
  );
}
