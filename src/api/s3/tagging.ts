import type { IncomingHttpHeaders } from 'node:http';
import { versionIdOf, type ObjectMeta } from '../../model/object.ts';
import { amendVersion, checkedVersionId, readVersion } from './versioning.ts';
import type { Tag } from '../../model/tags.ts';
import { lwwNext } from '../../util/crdt.ts';
import { S3Error } from '../common/s3_error.ts';
import { parseXml, toXml, xmlChild, xmlChildren, xmlChildText, xmlRoot, type XmlElement } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx, type ObjectCtx } from './context.ts';

/** S3's limits: 10 tags on an object, 50 on a bucket; keys of 1 to 128 characters, values up to 256. */
const MAX_OBJECT_TAGS = 10;
const MAX_BUCKET_TAGS = 50;
const MAX_KEY = 128;
const MAX_VALUE = 256;
// Letters, numbers and separators in any script, and + - = . _ : / @ (S3's set).
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const TAGGING_LIMITS = { maxBytes: 64 * 1024, maxDepth: 4, maxElements: 1000 };

const chars = (s: string) => [...s].length;

/** Checks a tag set as S3 does (each tag in order, then duplicates, then the count). */
function checkTags(tags: Tag[], owner: 'object' | 'bucket'): Tag[] {
  const seen = new Set<string>();
  for (const [k, v] of tags) {
    if (chars(k) < 1 || chars(k) > MAX_KEY || !TAG_CHARS.test(k))
      throw new S3Error('InvalidTag', 'The TagKey you have provided is invalid', { TagKey: k.slice(0, MAX_KEY) });
    if (chars(v) > MAX_VALUE || !TAG_CHARS.test(v))
      throw new S3Error('InvalidTag', 'The TagValue you have provided is invalid', { TagKey: k });
    if (k.startsWith('aws:')) throw new S3Error('InvalidTag', 'System tags cannot be added/updated by requester');
    if (seen.has(k)) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key', { TagKey: k });
    seen.add(k);
  }
  const max = owner === 'object' ? MAX_OBJECT_TAGS : MAX_BUCKET_TAGS;
  if (tags.length > max)
    throw new S3Error('BadRequest', `${owner === 'object' ? 'Object' : 'Bucket'} tags cannot be greater than ${max}`);
  return tags;
}

/** The tags of `<Tag>` elements (a TagSet, or a lifecycle filter), exactly as written. */
export function tagsOf(el: XmlElement): Tag[] {
  return xmlChildren(el, 'Tag').map((t) => {
    const k = xmlChildText(t, 'Key');
    const v = xmlChildText(t, 'Value');
    if (k === undefined || v === undefined) throw new S3Error('MalformedXML', 'each Tag needs a Key and a Value');
    return [k, v];
  });
}

/** The `<Tag>` elements of a tag set. */
export function tagsXml(tags: readonly Tag[]): { Key: string; Value: string }[] {
  return tags.map(([Key, Value]) => ({ Key, Value }));
}

/** A `Tagging` document's tags: `<Tagging><TagSet><Tag>…`, checked. */
function parseTagging(doc: XmlElement, owner: 'object' | 'bucket'): Tag[] {
  const set = xmlChild(doc, 'TagSet');
  if (!set) throw new S3Error('MalformedXML', 'a Tagging document holds a TagSet');
  return checkTags(tagsOf(set), owner);
}

/** PostObject's `tagging` field: a Tagging document as text. */
export function taggingField(xml: string): Tag[] {
  return parseTagging(xmlRoot(parseXml(xml, TAGGING_LIMITS), 'Tagging'), 'object');
}

/** The tags of an `x-amz-tagging` header (URL query encoded), checked; undefined without one. */
export function taggingHeader(h: IncomingHttpHeaders): Tag[] | undefined {
  const raw = h['x-amz-tagging'];
  if (raw === undefined) return undefined;
  const text = Array.isArray(raw) ? raw.join('&') : raw;
  const tags: Tag[] = [];
  const keys = new Set<string>();
  for (const [k, v] of new URLSearchParams(text)) {
    if (keys.has(k))
      throw new S3Error(
        'InvalidArgument',
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
        { ArgumentName: 'x-amz-tagging' },
      );
    keys.add(k);
    tags.push([k, v]);
  }
  return checkTags(tags, 'object');
}

/** The tags a copy gets: the source's (x-amz-tagging-directive COPY, the default) or the request's (REPLACE). */
export function copyTags(h: IncomingHttpHeaders, source: readonly Tag[]): Tag[] {
  const directive = String(h['x-amz-tagging-directive'] ?? 'COPY').toUpperCase();
  if (directive === 'COPY') return [...source];
  if (directive === 'REPLACE') return taggingHeader(h) ?? [];
  throw new S3Error('InvalidArgument', 'Unknown tag directive.', { ArgumentName: 'x-amz-tagging-directive' });
}

/** A new version's tags register. */
export function newTags(tags: Tag[] | undefined): ObjectMeta['tags'] {
  return tags?.length ? { ts: Date.now(), v: tags } : undefined;
}

/** `x-amz-tagging-count` for an object with tags. */
export function tagCountHeader(meta: ObjectMeta): Record<string, string> {
  const n = meta.tags?.v.length ?? 0;
  return n ? { 'x-amz-tagging-count': String(n) } : {};
}

/** The version a tagging call acts on: the current one, or the one `versionId` names. */
async function taggedVersion(ctx: ObjectCtx) {
  const entry = await ctx.svc.model.object.get(ctx.bucket.id, Buffer.from(ctx.objectKey));
  return readVersion(ctx.bucket, entry, checkedVersionId(ctx.query.get('versionId')));
}

/** Replaces the tags of a version, where its replicas hold it complete (see object.ts `completion`). */
async function setObjectTags(ctx: ObjectCtx, tags: Tag[]): Promise<string> {
  const v = await taggedVersion(ctx);
  const { data } = v.state;
  await amendVersion(ctx, v, { ...data.meta, tags: lwwNext(data.meta.tags ?? { ts: 0, v: [] }, tags) });
  return versionIdOf(v);
}

/** GetObjectTagging. */
export async function handleGetObjectTagging(ctx: ObjectCtx): Promise<void> {
  const v = await taggedVersion(ctx);
  sendXml(ctx.res, 200, toXml('Tagging', { TagSet: { Tag: tagsXml(v.state.data.meta.tags?.v ?? []) } }), {
    'x-amz-version-id': versionIdOf(v),
  });
}

/** PutObjectTagging. */
export async function handlePutObjectTagging(ctx: ObjectCtx): Promise<void> {
  const tags = parseTagging(await readXmlBody(ctx, 'Tagging', TAGGING_LIMITS), 'object');
  sendEmpty(ctx.res, 200, { 'x-amz-version-id': await setObjectTags(ctx, tags) });
}

/** DeleteObjectTagging. */
export async function handleDeleteObjectTagging(ctx: ObjectCtx): Promise<void> {
  sendEmpty(ctx.res, 204, { 'x-amz-version-id': await setObjectTags(ctx, []) });
}

/** GetBucketTagging. */
export function handleGetBucketTagging(ctx: BucketCtx): void {
  const tags = ctx.bucket.tags.v;
  if (tags.length === 0) throw new S3Error('NoSuchTagSet', 'The TagSet does not exist');
  sendXml(ctx.res, 200, toXml('Tagging', { TagSet: { Tag: tagsXml(tags) } }));
}

/** PutBucketTagging. */
export async function handlePutBucketTagging(ctx: BucketCtx): Promise<void> {
  const tags = parseTagging(await readXmlBody(ctx, 'Tagging', TAGGING_LIMITS), 'bucket');
  await ctx.svc.model.bucket.insert({ ...ctx.bucket, tags: lwwNext(ctx.bucket.tags, tags) });
  sendEmpty(ctx.res, 204);
}

/** DeleteBucketTagging. */
export async function handleDeleteBucketTagging(ctx: BucketCtx): Promise<void> {
  await ctx.svc.model.bucket.insert({ ...ctx.bucket, tags: lwwNext(ctx.bucket.tags, []) });
  sendEmpty(ctx.res, 204);
}
